// The builder of a CpuInferencePlan (inference_plan.cpp walks the graph and assigns buffers;
// inference_plan_nodes.cpp emits the steps of each kind of node).
#pragma once

#include <climits>
#include <map>
#include <string>
#include <vector>

#include "cpu/dnnl_context.h"
#include "cpu/inference_plan.h"

namespace useg::cpu {

struct PlanDecline {};  // the graph holds something the plan does not compile

class CpuInferencePlan::Builder {
 public:
  using Sp = std::array<int64_t, 3>;  // spatial size D, H, W
  using Node = nn::Node;
  using OpKind = nn::OpKind;
  using memory = dnnl::memory;

  Builder(CpuInferencePlan& p, const nn::Graph& g, bool flat) : P(p), g(g), m_flat(flat) {}
  void build();

 private:
  struct Value {
    int64_t channels = 0;
    Sp sp{};
    memory::desc md;
    int buf = -1;          // kUserIn / kUserOut, else assigned by allocate()
    int concat = -1;       // the value whose buffer holds this one (a concat input)
    int64_t offset = 0;    // floats into that buffer
    int first = INT_MAX, last = -1;  // the steps that write and read it
  };
  CpuInferencePlan& P;
  const nn::Graph& g;
  bool m_flat;
  std::vector<Shape> m_shapes;
  std::vector<int> m_readers;  // per node: readers among the nodes the forward needs
  std::vector<int> m_val;      // per node: the value holding its output
  std::vector<Value> V;

  // A fresh attribute object per primitive (primitive_attr copies share one handle, so a
  // post-op set on a copy would leak into every later primitive).
  static dnnl::primitive_attr attr() {
    dnnl::primitive_attr a;
    a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    return a;
  }
  memory::dims act_dims(int64_t ch, const Sp& sp) const {
    if (m_flat) return {1, ch, sp[1], sp[2]};
    return {1, ch, sp[0], sp[1], sp[2]};
  }
  memory::desc blocked_md(int64_t ch, const Sp& sp) const {
    using tag = memory::format_tag;
    tag t = P.m_block == 16 ? (m_flat ? tag::nChw16c : tag::nCdhw16c)
                            : (m_flat ? tag::nChw8c : tag::nCdhw8c);
    return {act_dims(ch, sp), memory::data_type::f32, t};
  }
  memory::desc plain_md(int64_t ch, const Sp& sp) const {
    using tag = memory::format_tag;
    return {act_dims(ch, sp), memory::data_type::f32, m_flat ? tag::nchw : tag::ncdhw};
  }
  template <class T>
  memory::dims sp_dims(const std::array<T, 3>& v) const {
    if (m_flat) return {v[1], v[2]};
    return {v[0], v[1], v[2]};
  }
  Sp spatial(int node) const {
    const Shape& s = m_shapes[node];
    return {s[2], s[3], s[4]};
  }
  int new_value(int64_t ch, const Sp& sp, const memory::desc* md = nullptr) {
    Value v;
    v.channels = ch;
    v.sp = sp;
    v.md = md ? *md : blocked_md(ch, sp);
    V.push_back(v);
    return static_cast<int>(V.size()) - 1;
  }
  PlanView view(int value) const {
    PlanView v;
    v.value = value;
    v.channels = V[value].channels;
    v.spatial = V[value].sp[0] * V[value].sp[1] * V[value].sp[2];
    v.md = V[value].md;
    return v;
  }
  void add(PlanStep s, const dnnl::primitive_desc_base* pd) {
    if (pd) {
      s.scratch_md = pd->scratchpad_desc();
      P.m_scratchpad_bytes = std::max(P.m_scratchpad_bytes, s.scratch_md.get_size());
      s.impl = pd->impl_info_str();
    }
    const int step = static_cast<int>(P.m_steps.size());
    for (const PlanView* v : {&s.src, &s.dst, &s.src2})
      if (v->value >= 0) {
        V[v->value].first = std::min(V[v->value].first, step);
        V[v->value].last = std::max(V[v->value].last, step);
      }
    P.m_steps.push_back(std::move(s));
  }
  int add_weights(const Node& n, const Shape& shape, const memory::desc& user,
                  const memory::desc& prim, const Node* bn) {
    PlanWeights w;
    w.weight = n.name + ".weight";
    w.bias = n.name + ".bias";
    w.transposed = n.kind == OpKind::ConvTranspose;
    w.shape = shape;
    w.user_md = user;
    w.prim_md = prim;
    if (bn) w.bn_prefix = bn->name, w.bn_eps = bn->eps;
    P.m_weights.push_back(std::move(w));
    return static_cast<int>(P.m_weights.size()) - 1;
  }
  void reorder(const std::string& name, int src, int dst) {
    dnnl::reorder::primitive_desc pd(P.m_engine, V[src].md, P.m_engine, V[dst].md, attr());
    PlanStep s{PlanStep::Kind::Reorder, name};
    s.prim = dnnl::reorder(pd);
    s.src = view(src);
    s.dst = view(dst);
    add(std::move(s), &pd);
  }
  // The only reader of node id's value among the needed nodes, or -1.
  int single_reader(int id) const {
    if (m_readers[id] != 1 || id == g.outputs[0]) return -1;
    for (size_t r = id + 1; r < g.nodes.size(); ++r)
      for (int i : g.nodes[r].inputs)
        if (i == id) return m_val[r] == -1 ? static_cast<int>(r) : -1;
    return -1;
  }

  // A Finish step waiting for the last node of its convolution's chain.
  struct Finish {
    int value = -1;
    const Node* inorm = nullptr;
    int residual = -1;  // node id
    const Node* act = nullptr;
    std::string name;
  };
  std::map<int, Finish> m_finish;  // by the chain's last node
  void finish_step(const Finish& f);
  void conv_node(int id);
  void conv(const Node& n, int src, int dst, const Node* bn, const Node* act, bool choose_src);
  void winograd(const Node& n, int src, int dst, const std::array<int, 3>& k, const Node* bn,
                const Node* act);
  void up_node(int id);
  void concat_node(int id);
  void pool_node(int id);
  void allocate();
};

}  // namespace useg::cpu
