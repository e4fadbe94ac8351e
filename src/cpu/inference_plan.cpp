// Building a CpuInferencePlan: the U-Net of scripts/torch_unet.py unrolled into a list of steps
// over blocked buffers (see inference_plan.h for what the plan does and why).
//
// Buffer roles (each sized to the largest view placed in it):
//   A, B  intermediate block outputs inside a stage (ping-pong)
//   T     the output of the bottleneck and of each decoder stage (the next transposed conv or
//         the head reads it)
//   P     the output of a max pooling (the next encoder stage's input)
//   R     a residual stage's 1x1 skip convolution
//   X     the input, reordered (when the first convolution does not read the caller's layout)
//   O     the head's blocked logits, reordered into the caller's tensor
//   cat[s] decoder level s's input [upsampled, skip]; encoder stage s writes its output into the
//         skip half, which stays alive until decoder s reads it
#include "cpu/inference_plan.h"

#include <sstream>

#include "cpu/cpu_backend.h"
#include "cpu/dnnl_context.h"
#include "useg/error.h"

namespace useg::cpu {

using dnnl::memory;
using Sp = std::array<int64_t, 3>;  // spatial size D, H, W

class CpuInferencePlan::Builder {
 public:
  Builder(CpuInferencePlan& p, bool flat) : P(p), m_flat(flat), c(p.m_cfg) {}

  void build();

 private:
  CpuInferencePlan& P;
  bool m_flat;
  const ModelConfig& c;
  // A fresh attribute object per primitive (primitive_attr copies share one handle, so a
  // post-op set on a copy would leak into every later primitive).
  static dnnl::primitive_attr attr() {
    dnnl::primitive_attr a;
    a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    return a;
  }
  int A = 0, B = 0, T = 0, Pb = 0, R = 0, O = 0, U = 0;

  int new_buf() {
    P.m_buf_floats.push_back(0);
    return static_cast<int>(P.m_buf_floats.size()) - 1;
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
  memory::desc plain_act_md(int64_t ch, const Sp& sp) const {
    using tag = memory::format_tag;
    return {act_dims(ch, sp), memory::data_type::f32, m_flat ? tag::nchw : tag::ncdhw};
  }
  memory::dims sp_dims(const std::array<int, 3>& v) const {
    if (m_flat) return {v[1], v[2]};
    return {v[0], v[1], v[2]};
  }
  // A view of `ch` channels at `offset` floats into buffer `buf` (or the caller's tensors).
  PlanView view(int buf, int64_t offset, int64_t ch, const Sp& sp, const memory::desc* md = nullptr) {
    PlanView v;
    v.buf = buf;
    v.offset = offset;
    v.channels = ch;
    v.spatial = sp[0] * sp[1] * sp[2];
    v.md = md ? *md : blocked_md(ch, sp);
    if (buf >= 0) {
      int64_t floats = offset + static_cast<int64_t>(v.md.get_size() / sizeof(float));
      P.m_buf_floats[buf] = std::max(P.m_buf_floats[buf], floats);
    }
    return v;
  }
  void add(PlanStep s, const dnnl::primitive_desc_base* pd) {
    if (pd) {
      s.scratch_md = pd->scratchpad_desc();
      P.m_scratchpad_bytes = std::max(P.m_scratchpad_bytes, s.scratch_md.get_size());
      s.impl = pd->impl_info_str();
    }
    P.m_steps.push_back(std::move(s));
  }
  int add_weights(const std::string& prefix, const Shape& shape, bool transposed,
                  const memory::desc& user, const memory::desc& prim, const std::string& bn) {
    PlanWeights w;
    w.weight = prefix + ".weight";
    w.bias = prefix + ".bias";
    w.bn_prefix = bn;
    w.transposed = transposed;
    w.shape = shape;
    w.user_md = user;
    w.prim_md = prim;
    P.m_weights.push_back(std::move(w));
    return static_cast<int>(P.m_weights.size()) - 1;
  }
  void reorder(const std::string& name, const PlanView& src, const PlanView& dst) {
    dnnl::reorder::primitive_desc pd(P.m_engine, src.md, P.m_engine, dst.md, attr());
    PlanStep s{PlanStep::Kind::Reorder, name};
    s.prim = dnnl::reorder(pd);
    s.src = src;
    s.dst = dst;
    add(std::move(s), &pd);
  }

  // conv (+ folded batch norm) (+ activation post-op) from src into dst. A src view without a
  // descriptor (the network input) lets oneDNN choose its layout and reorders into buffer X.
  void conv(const std::string& prefix, PlanView src, const PlanView& dst, int cin, int cout,
            const std::array<int, 3>& k, const std::string& bn, bool post_act);
  // The same convolution (3x3 or 3x3x3, k = {1 or 3, 3, 3}) as a WinogradConv step.
  void winograd(const std::string& prefix, const PlanView& src, const PlanView& dst, int cin,
                int cout, const std::array<int, 3>& k, const std::string& bn, bool post_act);
  void finish(const std::string& name, const PlanView& y, const PlanView* residual,
              const std::string& norm_prefix);
  void stage(const std::string& prefix, const PlanView& in, int cin, int cout,
             const std::array<int, 3>& k, const Sp& sp, const PlanView& out);
  void deconv(const std::string& prefix, const PlanView& h, const PlanView& dst, int64_t fin,
              int64_t f, const std::array<int, 3>& p);
  float slope() const {
    return c.activation == Activation::LeakyReLU ? c.negative_slope : 0.f;
  }
};

void CpuInferencePlan::Builder::conv(const std::string& prefix, PlanView src,
                                     const PlanView& dst, int cin, int cout,
                                     const std::array<int, 3>& k, const std::string& bn,
                                     bool post_act) {
  memory::dims w = m_flat ? memory::dims{cout, cin, k[1], k[2]}
                          : memory::dims{cout, cin, k[0], k[1], k[2]};
  std::array<int, 3> one{1, 1, 1}, pad{k[0] / 2, k[1] / 2, k[2] / 2}, pad_r;
  for (int a = 0; a < 3; ++a) pad_r[a] = k[a] - 1 - pad[a];  // output size = input size
  const bool choose_src = src.md.is_zero();  // the network input: oneDNN chooses its layout
  const std::array<int, 3> k3{m_flat ? 1 : k[0], k[1], k[2]};
  if (!choose_src && P.m_winograd && WinogradConv::supports(k3)) {
    winograd(prefix, src, dst, cin, cout, k3, bn, post_act);
    return;
  }
  const Sp in_sp{P.m_input[2], P.m_input[3], P.m_input[4]};
  memory::desc src_md = choose_src ? any_md(act_dims(cin, in_sp)) : src.md;
  dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference,
                                       dnnl::algorithm::convolution_direct, src_md, any_md(w),
                                       vector_md(cout), dst.md, sp_dims(one), sp_dims(pad),
                                       sp_dims(pad_r));
  dnnl::primitive_attr pa = attr();
  if (post_act) {
    dnnl::post_ops po;
    po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, slope(), 0.f);
    pa.set_post_ops(po);
  }
  dnnl::convolution_forward::primitive_desc pd(desc, pa, P.m_engine);
  if (choose_src) {
    PlanView user = view(kUserIn, 0, cin, in_sp);
    user.md = plain_act_md(cin, in_sp);
    if (pd.src_desc() == user.md) {
      src = user;
    } else {
      memory::desc chosen = pd.src_desc();
      src = view(new_buf(), 0, cin, in_sp, &chosen);
      reorder("input reorder", user, src);
    }
  }
  using tag = memory::format_tag;
  memory::desc user_w(w, memory::data_type::f32, m_flat ? tag::oihw : tag::oidhw);
  Shape ws{cout, cin, k[0], k[1], k[2]};
  PlanStep s{PlanStep::Kind::Conv, prefix + (post_act ? " (+act)" : "")};
  s.prim = dnnl::convolution_forward(pd);
  s.src = src;
  s.dst = dst;
  s.weights = add_weights(prefix, ws, false, user_w, pd.weights_desc(), bn);
  s.gflop = 2e-9 * double(dst.spatial) * double(ws.numel());
  add(std::move(s), &pd);
}

void CpuInferencePlan::Builder::winograd(const std::string& prefix, const PlanView& src,
                                         const PlanView& dst, int cin, int cout,
                                         const std::array<int, 3>& k, const std::string& bn,
                                         bool post_act) {
  memory::dims d = dst.md.dims();  // {1, C, H, W} or {1, C, D, H, W}
  std::array<int64_t, 3> dhw = m_flat ? std::array<int64_t, 3>{1, d[2], d[3]}
                                      : std::array<int64_t, 3>{d[2], d[3], d[4]};
  Shape ws{cout, cin, k[0], k[1], k[2]};
  PlanStep s{PlanStep::Kind::Conv, prefix + (post_act ? " (+act)" : "")};
  s.src = src;
  s.dst = dst;
  s.weights = add_weights(prefix, ws, false, {}, {}, bn);
  P.m_weights[s.weights].wino = std::make_shared<WinogradConv>(cin, cout, dhw, k);
  s.activate = post_act;
  s.slope = slope();
  s.gflop = 2e-9 * double(dst.spatial) * double(ws.numel());
  s.impl = k[0] == 3 ? "useg winograd F(2x2x2,3x3x3) avx2" : "useg winograd F(2x2,3x3) avx2";
  add(std::move(s), nullptr);
}

void CpuInferencePlan::Builder::finish(const std::string& name, const PlanView& y,
                                       const PlanView* residual,
                                       const std::string& norm_prefix) {
  PlanStep s{PlanStep::Kind::Finish, name};
  s.dst = y;
  if (residual) s.src2 = *residual;
  s.norm_prefix = norm_prefix;
  s.finish.instance_norm = !norm_prefix.empty();
  s.finish.eps = c.norm_eps;
  s.finish.slope = slope();
  s.impl = "useg blocked " + std::string(norm_prefix.empty() ? "" : "instance norm + ") +
           (residual ? "residual + " : "") + activation_name(c.activation);
  add(std::move(s), nullptr);
}

void CpuInferencePlan::Builder::stage(const std::string& prefix, const PlanView& in, int cin,
                                      int cout, const std::array<int, 3>& k, const Sp& sp,
                                      const PlanView& out) {
  PlanView cur = in;
  int cur_c = cin;
  for (int j = 0; j < c.convs_per_stage; ++j) {
    bool last = j + 1 == c.convs_per_stage;
    PlanView dst = last ? out : view(j % 2 == 0 ? A : B, 0, cout, sp);
    std::string bp = prefix + ".blocks." + std::to_string(j);
    bool res = c.residual && last;
    PlanView rv;
    if (res) {
      if (cin == cout) {
        rv = in;
      } else {
        rv = view(R, 0, cout, sp);
        conv(prefix + ".skip", in, rv, cin, cout, {1, 1, 1}, "", false);
      }
    }
    bool inorm = c.norm == NormKind::Instance;
    bool post = !inorm && !res;
    conv(bp + ".conv", cur, dst, cur_c, cout, k, c.norm == NormKind::Batch ? bp + ".norm" : "",
         post);
    if (!post) finish(bp + " finish", dst, res ? &rv : nullptr, inorm ? bp + ".norm" : "");
    cur = dst;
    cur_c = cout;
  }
}

void CpuInferencePlan::Builder::deconv(const std::string& prefix, const PlanView& h,
                                       const PlanView& dst, int64_t fin, int64_t f,
                                       const std::array<int, 3>& p) {
  memory::dims w = m_flat ? memory::dims{f, fin, p[1], p[2]}
                          : memory::dims{f, fin, p[0], p[1], p[2]};
  memory::dims zero(m_flat ? 2 : 3, 0);
  dnnl::deconvolution_forward::desc desc(dnnl::prop_kind::forward_inference,
                                         dnnl::algorithm::deconvolution_direct, h.md, any_md(w),
                                         vector_md(f), dst.md, sp_dims(p), zero, zero);
  dnnl::deconvolution_forward::primitive_desc pd(desc, attr(), P.m_engine);
  using tag = memory::format_tag;
  // PyTorch's [Ci, Co, k...] buffer seen as oneDNN's logical [Co, Ci, k...] (see dnnl_deconv).
  memory::desc user_w(w, memory::data_type::f32, m_flat ? tag::iohw : tag::iodhw);
  PlanStep st{PlanStep::Kind::Deconv, prefix + ".up"};
  st.prim = dnnl::deconvolution_forward(pd);
  st.src = h;
  st.dst = dst;
  st.weights = add_weights(prefix + ".up", Shape{fin, f, p[0], p[1], p[2]}, true, user_w,
                           pd.weights_desc(), "");
  st.gflop = 2e-9 * double(h.spatial) * double(fin * f * p[0] * p[1] * p[2]);
  add(std::move(st), &pd);
}

void CpuInferencePlan::Builder::build() {
  A = new_buf(), B = new_buf(), T = new_buf(), Pb = new_buf(), R = new_buf(), O = new_buf();
  U = new_buf();
  const int depth = c.depth;
  std::vector<Sp> sp(depth + 1);
  sp[0] = {P.m_input[2], P.m_input[3], P.m_input[4]};
  for (int s = 0; s < depth; ++s) {
    auto p = c.pool_size(s);
    for (int a = 0; a < 3; ++a) sp[s + 1][a] = sp[s][a] / p[a];
  }
  auto S = [&](int s) { return sp[s][0] * sp[s][1] * sp[s][2]; };
  // Where each level's skip and upsampled halves live.
  std::vector<int> cat(depth), up_buf(depth, -1), skip_buf(depth, -1);
  std::vector<PlanView> up(depth), skip(depth);
  for (int s = 0; s < depth; ++s) {
    cat[s] = new_buf();
    int64_t f = c.filters(s);
    view(cat[s], 0, 2 * f, sp[s]);
    if (f % P.m_block == 0) {
      up[s] = view(cat[s], 0, f, sp[s]);
      skip[s] = view(cat[s], f * S(s), f, sp[s]);
    } else {
      up_buf[s] = new_buf();
      skip_buf[s] = new_buf();
      up[s] = view(up_buf[s], 0, f, sp[s]);
      skip[s] = view(skip_buf[s], 0, f, sp[s]);
    }
  }
  // The input: the first convolution chooses its layout unless a residual skip also reads it.
  PlanView input;
  if (c.residual) {
    PlanView user = view(kUserIn, 0, c.in_channels, sp[0]);
    user.md = plain_act_md(c.in_channels, sp[0]);
    input = view(new_buf(), 0, c.in_channels, sp[0]);
    reorder("input reorder", user, input);
  }
  for (int s = 0; s <= depth; ++s) {
    int cin = s == 0 ? c.in_channels : c.filters(s - 1);
    PlanView in = s == 0 ? input : view(Pb, 0, cin, sp[s]);
    PlanView out = s < depth ? skip[s] : view(T, 0, c.filters(s), sp[s]);
    stage("encoder." + std::to_string(s), in, cin, c.filters(s), c.kernel(s), sp[s], out);
    if (s == depth) break;
    auto p = c.pool_size(s);
    PlanView pooled = view(Pb, 0, c.filters(s), sp[s + 1]);
    memory::dims zero(m_flat ? 2 : 3, 0);
    dnnl::pooling_forward::desc desc(dnnl::prop_kind::forward_inference,
                                     dnnl::algorithm::pooling_max, skip[s].md, pooled.md,
                                     sp_dims(p), sp_dims(p), zero, zero);
    dnnl::pooling_forward::primitive_desc pd(desc, attr(), P.m_engine);
    PlanStep st{PlanStep::Kind::Pool, "pool." + std::to_string(s)};
    st.prim = dnnl::pooling_forward(pd);
    st.src = skip[s];
    st.dst = pooled;
    add(std::move(st), &pd);
  }
  for (int s = depth - 1; s >= 0; --s) {
    const int64_t f = c.filters(s), fin = c.filters(s + 1);
    auto p = c.pool_size(s);
    std::string prefix = "decoder." + std::to_string(s);
    PlanView h = view(T, 0, fin, sp[s + 1]);
    if (f % P.m_block == 0) {
      // 1x1 conv to K*f channels ordered (offset, channel), then a scatter of channel blocks.
      const int K = p[0] * p[1] * p[2];
      PlanView u = view(U, 0, int64_t(K) * f, sp[s + 1]);
      conv(prefix + ".up", h, u, static_cast<int>(fin), K * static_cast<int>(f), {1, 1, 1}, "",
           false);
      PlanWeights& w = P.m_weights[P.m_steps.back().weights];
      w.upsample_k = K;
      w.upsample_co = f;
      P.m_steps.back().name = prefix + ".up (1x1 conv)";
      PlanStep sh{PlanStep::Kind::Shuffle, prefix + ".up scatter"};
      sh.src = u;
      sh.dst = up[s];
      for (int a = 0; a < 3; ++a) sh.in_dhw[a] = sp[s + 1][a], sh.kernel[a] = p[a];
      sh.impl = "useg blocked scatter (transposed conv, stride = kernel)";
      add(std::move(sh), nullptr);
    } else {
      deconv(prefix, h, up[s], fin, f, p);
    }
    PlanView catv = view(cat[s], 0, 2 * f, sp[s]);
    if (up_buf[s] >= 0) {
      PlanStep cs{PlanStep::Kind::Concat, prefix + " concat"};
      cs.src = up[s];
      cs.src2 = skip[s];
      cs.dst = catv;
      cs.impl = "useg blocked concat (channels not on a block boundary)";
      add(std::move(cs), nullptr);
    }
    stage(prefix + ".blocks", catv, 2 * f, f, c.kernel(s), sp[s], view(T, 0, f, sp[s]));
  }
  PlanView logits = view(O, 0, c.num_classes, sp[0]);
  conv("head", view(T, 0, c.filters(0), sp[0]), logits, c.filters(0), c.num_classes, {1, 1, 1},
       "", false);
  PlanView user_out = view(kUserOut, 0, c.num_classes, sp[0]);
  user_out.md = plain_act_md(c.num_classes, sp[0]);
  reorder("output reorder", logits, user_out);
}

CpuInferencePlan::CpuInferencePlan(const dnnl::engine& engine, const ModelConfig& cfg,
                                   const Shape& input, bool winograd)
    : m_engine(engine), m_stream(engine), m_cfg(cfg), m_input(input) {
  m_output = Shape{input[0], cfg.num_classes, input[2], input[3], input[4]};
  auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  // 16-float blocks where the vector unit is 16 wide (any ISA past AVX2's bits), else 8.
  m_block = (isa & ~static_cast<unsigned>(dnnl::cpu_isa::avx2)) != 0 ? 16 : 8;
  m_winograd = winograd && m_block == 8 && winograd_available();
}

std::unique_ptr<CpuInferencePlan> CpuInferencePlan::build(const dnnl::engine& engine,
                                                          const ModelConfig& cfg,
                                                          const Shape& input, bool winograd) {
  if (cfg.activation != Activation::ReLU && cfg.activation != Activation::LeakyReLU)
    return nullptr;
  if (cfg.activation == Activation::LeakyReLU &&
      !(cfg.negative_slope >= 0.f && cfg.negative_slope <= 1.f))
    return nullptr;
  if (cfg.upsampling != "transposed" || input.rank() != 5 || input[1] != cfg.in_channels ||
      cfg.convs_per_stage < 1)
    return nullptr;
  for (int s = 0; s <= cfg.depth; ++s) {
    auto k = cfg.kernel(s);
    for (int a = 0; a < 3; ++a)
      if (k[a] % 2 == 0) return nullptr;  // even kernels: the per-op path handles the padding
  }
  // The network's size multiple (UNet::forward checks it before asking for a plan).
  std::array<int64_t, 3> mult{1, 1, 1};
  bool flat = cfg.dims == 2 && input[2] == 1;
  for (int s = 0; s < cfg.depth; ++s) {
    auto p = cfg.pool_size(s);
    for (int a = 0; a < 3; ++a) mult[a] *= p[a];
    if (p[0] != 1) flat = false;
  }
  for (int a = 0; a < 3; ++a)
    if (input[2 + a] % mult[a] != 0) return nullptr;
  for (int s = 0; s <= cfg.depth; ++s)
    if (cfg.kernel(s)[0] != 1) flat = false;
  std::unique_ptr<CpuInferencePlan> plan(new CpuInferencePlan(engine, cfg, input, winograd));
  try {
    Builder(*plan, flat).build();
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
std::unique_ptr<InferencePlan> CpuBackend::make_inference_plan(const ModelConfig& config,
                                                               const Shape& input) {
  std::lock_guard<std::mutex> lock(dnnl().mutex());
  return CpuInferencePlan::build(dnnl().engine(), config, input, m_winograd);
}

}  // namespace useg::cpu
