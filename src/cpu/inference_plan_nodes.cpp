// The plan steps of each kind of graph node: a convolution with what it absorbs, a transposed
// convolution, a concat (usually no step: its inputs are placed in its buffer), a max or average
// pooling (oneDNN's; no padding, so average pooling's padding mode does not matter).
#include "cpu/inference_plan_builder.h"
#include "useg/error.h"

namespace useg::cpu {

// A convolution and the nodes after it that its step(s) absorb, in PyTorch's order:
//   conv -> [batch norm (folded into the weights) | instance norm] -> [+ residual]
//        -> [ReLU / leaky ReLU] -> [dropout (the identity in inference)]
// With instance norm or a residual, a Finish step does norm + residual + activation in one pass
// over the conv's output; otherwise the activation is the convolution's post-op.
void CpuInferencePlan::Builder::conv_node(int id) {
  const Node& n = g.nodes[id];
  const Node *bn = nullptr, *inorm = nullptr, *act = nullptr;
  int residual = -1, last = id;
  std::vector<int> absorbed;
  auto next = [&](OpKind kind) {
    int r = single_reader(last);
    if (r < 0 || g.nodes[r].kind != kind) return -1;
    absorbed.push_back(r);
    return last = r;
  };
  if (int r = next(OpKind::Norm); r >= 0)
    (g.nodes[r].norm == NormKind::Batch ? bn : inorm) = &g.nodes[r];
  const int before_add = last;
  if (int r = next(OpKind::Add); r >= 0) {
    const Node& a = g.nodes[r];
    if (a.inputs[0] == a.inputs[1]) throw PlanDecline{};
    residual = a.inputs[0] == before_add ? a.inputs[1] : a.inputs[0];
  }
  if (int r = next(OpKind::Act); r >= 0) {
    act = &g.nodes[r];
    const bool relu_like = act->act == Activation::ReLU || act->act == Activation::LeakyReLU;
    if (!relu_like || !(act->slope >= 0.f && act->slope <= 1.f)) throw PlanDecline{};
  }
  while (next(OpKind::Dropout) >= 0) {
  }
  const int src = m_val[n.inputs[0]];
  const bool choose_src = V[src].buf == kUserIn;
  const int dst = new_value(n.channels, spatial(id));
  const bool finish = inorm || residual >= 0;
  conv(n, src, dst, bn, finish ? nullptr : act, choose_src);
  m_val[id] = dst;
  for (int r : absorbed) m_val[r] = dst;
  if (finish)
    m_finish[last] = Finish{dst, inorm, residual, act, n.name.substr(0, n.name.rfind('.'))};
}

// The Finish step of a convolution's chain, emitted at the chain's last node: by then the
// residual (which may come from a convolution after this one, a stage's 1x1 skip) exists.
void CpuInferencePlan::Builder::finish_step(const Finish& f) {
  PlanStep s{PlanStep::Kind::Finish, f.name + " finish"};
  s.dst = view(f.value);
  if (f.residual >= 0) {
    USEG_CHECK(m_val[f.residual] >= 0, "inference plan: residual " << g.nodes[f.residual].name
                                                                   << " is not computed yet");
    s.src2 = view(m_val[f.residual]);
  }
  if (f.inorm) s.norm_prefix = f.inorm->name;
  s.finish.instance_norm = f.inorm != nullptr;
  s.finish.eps = f.inorm ? f.inorm->eps : 1e-5f;
  s.finish.slope = f.act ? f.act->slope : 1.f;  // slope 1: the identity
  s.impl = "useg blocked " + std::string(f.inorm ? "instance norm + " : "") +
           (f.residual >= 0 ? "residual + " : "") +
           (f.act ? activation_name(f.act->act) : "identity");
  add(std::move(s), nullptr);
}

void CpuInferencePlan::Builder::conv(const Node& n, int src, int dst, const Node* bn,
                                     const Node* act, bool choose_src) {
  const std::array<int, 3>& k = n.conv.kernel;
  const int64_t cin = V[src].channels, cout = n.channels;
  for (int a = 0; a < 3; ++a)
    if (k[a] % 2 == 0) throw PlanDecline{};  // even kernels: the per-op path handles the padding
  memory::dims w = m_flat ? memory::dims{cout, cin, k[1], k[2]}
                          : memory::dims{cout, cin, k[0], k[1], k[2]};
  std::array<int64_t, 3> pad_r;
  const Sp in_sp = V[src].sp, out_sp = V[dst].sp;
  for (int a = 0; a < 3; ++a)
    pad_r[a] = (out_sp[a] - 1) * n.conv.stride[a] + k[a] - in_sp[a] - n.conv.pad[a];
  const std::array<int, 3> k3{m_flat ? 1 : k[0], k[1], k[2]};
  const bool same = n.conv.stride == std::array<int, 3>{1, 1, 1} &&
                    n.conv.pad == std::array<int, 3>{k[0] / 2, k[1] / 2, k[2] / 2};
  if (!choose_src && P.m_winograd && same && WinogradConv::supports(k3)) {
    winograd(n, src, dst, k3, bn, act);
    return;
  }
  memory::desc src_md = choose_src ? any_md(act_dims(cin, in_sp)) : V[src].md;
  dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference,
                                       dnnl::algorithm::convolution_direct, src_md, any_md(w),
                                       vector_md(cout), V[dst].md, sp_dims(n.conv.stride),
                                       sp_dims(n.conv.pad), sp_dims(pad_r));
  dnnl::primitive_attr pa = attr();
  if (act) {
    dnnl::post_ops po;
    po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, act->slope, 0.f);
    pa.set_post_ops(po);
  }
  dnnl::convolution_forward::primitive_desc pd(desc, pa, P.m_engine);
  if (choose_src && pd.src_desc() != V[src].md) {
    memory::desc chosen = pd.src_desc();
    const int x = new_value(cin, in_sp, &chosen);
    reorder("input reorder", src, x);
    src = x;
  }
  using tag = memory::format_tag;
  memory::desc user_w(w, memory::data_type::f32, m_flat ? tag::oihw : tag::oidhw);
  Shape ws{cout, cin, k[0], k[1], k[2]};
  PlanStep s{PlanStep::Kind::Conv, n.name + (act ? " (+act)" : "")};
  s.prim = dnnl::convolution_forward(pd);
  s.src = view(src);
  s.dst = view(dst);
  s.weights = add_weights(n, ws, user_w, pd.weights_desc(), bn);
  s.gflop = 2e-9 * double(s.dst.spatial) * double(ws.numel());
  add(std::move(s), &pd);
}

void CpuInferencePlan::Builder::winograd(const Node& n, int src, int dst,
                                         const std::array<int, 3>& k, const Node* bn,
                                         const Node* act) {
  const int64_t cin = V[src].channels, cout = n.channels;
  Shape ws{cout, cin, n.conv.kernel[0], n.conv.kernel[1], n.conv.kernel[2]};
  PlanStep s{PlanStep::Kind::Conv, n.name + (act ? " (+act)" : "")};
  s.src = view(src);
  s.dst = view(dst);
  s.weights = add_weights(n, ws, {}, {}, bn);
  P.m_weights[s.weights].wino = std::make_shared<WinogradConv>(cin, cout, V[dst].sp, k);
  s.activate = act != nullptr;
  s.slope = act ? act->slope : 0.f;
  s.gflop = 2e-9 * double(s.dst.spatial) * double(ws.numel());
  s.impl = k[0] == 3 ? "useg winograd F(2x2x2,3x3x3) avx2" : "useg winograd F(2x2,3x3) avx2";
  add(std::move(s), nullptr);
}

// A transposed convolution. Where stride = kernel (no overlap) and the output channels fill
// whole blocks: a 1x1 convolution to k*C channels ordered (offset, channel), then a scatter of
// channel blocks; else oneDNN's deconvolution.
void CpuInferencePlan::Builder::up_node(int id) {
  const Node& n = g.nodes[id];
  const int h = m_val[n.inputs[0]];
  const int64_t fin = V[h].channels, f = n.channels;
  const std::array<int, 3>& p = n.conv.kernel;
  const int dst = new_value(f, spatial(id));
  m_val[id] = dst;
  const bool no_overlap =
      n.conv.stride == p && n.conv.pad == std::array<int, 3>{0, 0, 0};
  if (no_overlap && f % P.m_block == 0) {
    const int K = p[0] * p[1] * p[2];
    const int u = new_value(int64_t(K) * f, V[h].sp);
    Node one = n;  // the same weights, seen as a 1x1 convolution
    one.channels = int64_t(K) * f;
    one.conv = ConvGeom{};
    conv(one, h, u, nullptr, nullptr, false);
    PlanWeights& w = P.m_weights[P.m_steps.back().weights];
    w.upsample_k = K;
    w.upsample_co = f;
    P.m_steps.back().name = n.name + " (1x1 conv)";
    PlanStep sh{PlanStep::Kind::Shuffle, n.name + " scatter"};
    sh.src = view(u);
    sh.dst = view(dst);
    for (int a = 0; a < 3; ++a) sh.in_dhw[a] = V[h].sp[a], sh.kernel[a] = p[a];
    sh.impl = "useg blocked scatter (transposed conv, stride = kernel)";
    add(std::move(sh), nullptr);
    return;
  }
  memory::dims w = m_flat ? memory::dims{f, fin, p[1], p[2]}
                          : memory::dims{f, fin, p[0], p[1], p[2]};
  dnnl::deconvolution_forward::desc desc(
      dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct, V[h].md,
      any_md(w), vector_md(f), V[dst].md, sp_dims(n.conv.stride), sp_dims(n.conv.pad),
      sp_dims(n.conv.pad));
  dnnl::deconvolution_forward::primitive_desc pd(desc, attr(), P.m_engine);
  using tag = memory::format_tag;
  // PyTorch's [Ci, Co, k...] buffer seen as oneDNN's logical [Co, Ci, k...] (see src/ops/conv/cpu_deconv.cpp).
  memory::desc user_w(w, memory::data_type::f32, m_flat ? tag::iohw : tag::iodhw);
  PlanStep st{PlanStep::Kind::Deconv, n.name};
  st.prim = dnnl::deconvolution_forward(pd);
  st.src = view(h);
  st.dst = view(dst);
  st.weights = add_weights(n, Shape{fin, f, p[0], p[1], p[2]}, user_w, pd.weights_desc(), nullptr);
  st.gflop = 2e-9 * double(st.src.spatial) * double(fin * f * p[0] * p[1] * p[2]);
  add(std::move(st), &pd);
}

// [a, b] along channels. When a's channels fill whole blocks, a and b are placed in the two
// halves of the concat's buffer and their producers write there: no step at all.
void CpuInferencePlan::Builder::concat_node(int id) {
  const Node& n = g.nodes[id];
  const int a = m_val[n.inputs[0]], b = m_val[n.inputs[1]];
  const int cat = new_value(n.channels, spatial(id));
  m_val[id] = cat;
  auto placeable = [&](int v) {
    return V[v].buf == -1 && V[v].concat == -1 && V[v].md == blocked_md(V[v].channels, V[v].sp);
  };
  if (V[a].channels % P.m_block == 0 && a != b && placeable(a) && placeable(b)) {
    V[a].concat = V[b].concat = cat;
    V[b].offset = V[a].channels * V[a].sp[0] * V[a].sp[1] * V[a].sp[2];
    return;
  }
  PlanStep cs{PlanStep::Kind::Concat, n.name};
  cs.src = view(a);
  cs.src2 = view(b);
  cs.dst = view(cat);
  cs.impl = "useg blocked concat (channels not on a block boundary)";
  add(std::move(cs), nullptr);
}

void CpuInferencePlan::Builder::pool_node(int id) {
  const Node& n = g.nodes[id];
  const int src = m_val[n.inputs[0]];
  const int dst = new_value(n.channels, spatial(id));
  m_val[id] = dst;
  memory::dims zero(m_flat ? 2 : 3, 0);
  const dnnl::algorithm alg = n.kind == OpKind::AvgPool
                                  ? dnnl::algorithm::pooling_avg_exclude_padding
                                  : dnnl::algorithm::pooling_max;
  dnnl::pooling_forward::desc desc(dnnl::prop_kind::forward_inference, alg, V[src].md, V[dst].md,
                                   sp_dims(n.pool.stride), sp_dims(n.pool.kernel), zero, zero);
  dnnl::pooling_forward::primitive_desc pd(desc, attr(), P.m_engine);
  PlanStep st{PlanStep::Kind::Pool, n.name};
  st.prim = dnnl::pooling_forward(pd);
  st.src = view(src);
  st.dst = view(dst);
  add(std::move(st), &pd);
}


}  // namespace useg::cpu
