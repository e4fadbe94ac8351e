// Compiling a CpuInferencePlan from the network's graph (see inference_plan.h for what the plan
// does and why). The builder walks the nodes a forward needs, in order, and emits steps over
// logical values (one per activation that materializes; inference_plan_nodes.cpp has the steps
// of each kind of node); then every value gets a buffer by liveness (a buffer is reused once the
// last step reading its value has run), except the inputs of a concat that are placed straight
// into the halves of the concat's buffer.
#include <algorithm>
#include <sstream>

#include "cpu/cpu_backend.h"
#include "cpu/inference_plan_builder.h"
#include "useg/error.h"

namespace useg::cpu {

void CpuInferencePlan::Builder::build() {
  m_shapes = nn::infer_shapes(g, P.m_input);
  const std::vector<bool> need = nn::needed_nodes(g, false);
  m_readers.assign(g.nodes.size(), 0);
  m_val.assign(g.nodes.size(), -1);
  for (size_t id = 0; id < g.nodes.size(); ++id) {
    if (!need[id]) {
      m_val[id] = -2;  // not computed
      continue;
    }
    for (int i : g.nodes[id].inputs) ++m_readers[i];
  }
  // The caller's input: the first convolution chooses its layout (and reads it as it is when
  // that is the plain one) unless something else reads the input too.
  const Sp in_sp = spatial(0);
  const int user_in = new_value(g.in_channels, in_sp);
  V[user_in].md = plain_md(g.in_channels, in_sp);
  V[user_in].buf = kUserIn;
  m_val[0] = user_in;
  const int first_reader = single_reader(0);
  if (first_reader < 0 || g.nodes[first_reader].kind != OpKind::Conv) {
    m_val[0] = new_value(g.in_channels, in_sp);
    reorder("input reorder", user_in, m_val[0]);
  }
  for (size_t id = 1; id < g.nodes.size(); ++id) {
    if (auto f = m_finish.find(int(id)); f != m_finish.end()) finish_step(f->second);
    if (m_val[id] != -1) continue;  // absorbed by a convolution, or not needed
    const Node& n = g.nodes[id];
    switch (n.kind) {
      case OpKind::Conv: conv_node(static_cast<int>(id)); break;
      case OpKind::ConvTranspose: up_node(static_cast<int>(id)); break;
      case OpKind::Concat: concat_node(static_cast<int>(id)); break;
      case OpKind::MaxPool:
      case OpKind::AvgPool: pool_node(static_cast<int>(id)); break;
      case OpKind::Dropout: m_val[id] = m_val[n.inputs[0]]; break;
      default: throw PlanDecline{};  // a norm, sum or activation on its own
    }
  }
  const int out = m_val[g.outputs[0]];
  const int user_out = new_value(V[out].channels, V[out].sp);
  V[user_out].md = plain_md(V[out].channels, V[out].sp);
  V[user_out].buf = kUserOut;
  reorder("output reorder", out, user_out);
  allocate();
}

// Buffers by liveness: values in order of their first step take a buffer whose last reader has
// run (the smallest that fits, else the largest, grown); a concat's inputs live in its buffer.
void CpuInferencePlan::Builder::allocate() {
  // A concat's interval covers its inputs' (they are written before it is read).
  for (Value& v : V)
    if (v.concat >= 0) {
      Value& c = V[v.concat];
      c.first = std::min(c.first, v.first);
      c.last = std::max(c.last, v.last);
    }
  std::vector<int> order;
  for (size_t i = 0; i < V.size(); ++i)
    if (V[i].buf == -1 && V[i].concat == -1 && V[i].last >= 0) order.push_back(int(i));
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return V[a].first < V[b].first; });
  std::vector<int> busy_until;  // per buffer: the last step reading its current value
  for (int i : order) {
    Value& v = V[i];
    const int64_t floats = static_cast<int64_t>(v.md.get_size() / sizeof(float));
    int best = -1;  // the smallest free buffer that fits, else the largest free one
    for (size_t b = 0; b < busy_until.size(); ++b) {
      if (busy_until[b] >= v.first) continue;
      if (best < 0) {
        best = static_cast<int>(b);
        continue;
      }
      const int64_t have = P.m_buf_floats[b], best_have = P.m_buf_floats[best];
      const bool better = have >= floats ? (best_have < floats || have < best_have)
                                         : (best_have < floats && have > best_have);
      if (better) best = static_cast<int>(b);
    }
    if (best < 0) {
      best = static_cast<int>(busy_until.size());
      busy_until.push_back(-1);
      P.m_buf_floats.push_back(0);
    }
    busy_until[best] = v.last;
    P.m_buf_floats[best] = std::max(P.m_buf_floats[best], floats);
    v.buf = best;
  }
  for (Value& v : V)
    if (v.concat >= 0) v.buf = V[v.concat].buf;
  for (PlanStep& s : P.m_steps)
    for (PlanView* pv : {&s.src, &s.dst, &s.src2})
      if (pv->value >= 0) {
        pv->buf = V[pv->value].buf;
        pv->offset = V[pv->value].offset;
      }
}

int plan_block_size() {
  auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  // 16-float blocks where the vector unit is 16 wide (any ISA past AVX2's bits), else 8.
  return (isa & ~static_cast<unsigned>(dnnl::cpu_isa::avx2)) != 0 ? 16 : 8;
}

bool plan_uses_winograd() { return plan_block_size() == 8 && winograd_available(); }

CpuInferencePlan::CpuInferencePlan(const dnnl::engine& engine, const Shape& input,
                                   const Shape& output, bool winograd)
    : m_engine(engine), m_stream(engine), m_input(input), m_output(output) {
  m_block = plan_block_size();
  m_winograd = winograd && plan_uses_winograd();
}

std::unique_ptr<CpuInferencePlan> CpuInferencePlan::build(const dnnl::engine& engine,
                                                          const nn::Graph& g, const Shape& input,
                                                          bool winograd) {
  if (input.rank() != 5 || input[1] != g.in_channels) return nullptr;
  // The network's size multiple (Network::forward checks it before asking for a plan).
  auto mult = nn::size_multiple(g);
  for (int a = 0; a < 3; ++a)
    if (input[2 + a] % mult[a] != 0) return nullptr;
  // 2D descriptors when nothing reaches across depth slices.
  bool flat = g.dims == 2 && input[2] == 1;
  for (const nn::Node& n : g.nodes)
    if (n.conv.kernel[0] != 1 || n.conv.stride[0] != 1 || n.pool.kernel[0] != 1) flat = false;
  const Shape output = nn::infer_shapes(g, input)[g.outputs.at(0)];
  std::unique_ptr<CpuInferencePlan> plan(new CpuInferencePlan(engine, input, output, winograd));
  try {
    Builder(*plan, g, flat).build();
  } catch (const PlanDecline&) {
    return nullptr;
  } catch (const dnnl::error& e) {
    throw_dnnl_error(e, "building the inference plan for input " + input.str());
  }
  // On blocked buffers, channel counts off the block size (e.g. 4 channels with 8-float blocks)
  // can leave oneDNN with only its reference kernels, 50x slower than the per-op path's plain
  // layouts (base_filters 4, 3D: 28.7 s vs 0.54 s per 64^3 window). No plan when reference
  // kernels would do more than 2% of the FLOPs (a small 1x1 skip conv on the 3-channel input is
  // fine; the main convolutions are not). Nor when a transposed conv would run oneDNN's
  // reference deconvolution, whatever its FLOPs: 8 -> 4 channels, 2x2x2, at 64^3 took 507 ms for
  // 0.017 GFLOP, 90% of the network's time (the main convolutions are Winograd steps there).
  double total = 0, ref = 0;
  for (const PlanStep& st : plan->m_steps) {
    total += st.gflop;
    if (st.impl.rfind("ref", 0) != 0) continue;
    ref += st.gflop;
    if (st.kind == PlanStep::Kind::Deconv) return nullptr;
  }
  if (ref > 0.02 * total) return nullptr;
  return plan;
}

std::string CpuInferencePlan::describe() const {
  std::ostringstream os;
  for (const PlanStep& s : m_steps) os << s.name << ": " << s.impl << "\n";
  return os.str();
}

// ------------------------------------------------------------------------------ CpuBackend
std::unique_ptr<InferencePlan> CpuBackend::compile(const nn::Graph& graph, const Shape& input) {
  std::lock_guard<std::mutex> lock(dnnl().mutex());
  return CpuInferencePlan::build(dnnl().engine(), graph, input, m_winograd);
}

}  // namespace useg::cpu

