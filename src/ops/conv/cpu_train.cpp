// The training fast path of the CPU convolution (Backend::conv_forward_training and
// Backend::conv_backward). Through the per-op API a conv layer's step reorders six
// activation-sized tensors between plain NCDHW and oneDNN's blocked layout: x and y in forward,
// x and dy in backward-weights, dy and dx in backward-data — measured with DNNL_VERBOSE on the
// 2D U-Net training step, reorders took ~28% of all oneDNN time. Two of the six are repeats:
//  - conv_forward_training reorders x into a buffer it returns as the layer's saved handle, and
//    conv_backward's backward-weights primitive reads that buffer (no second reorder of x);
//  - conv_backward reorders dy once and feeds it to both backward primitives.
// The price is one blocked copy of each conv input kept from forward to backward.
//
// 3x3 (per depth slice) and 3x3x3 convolutions with stride 1 and padding 1 run their forward and
// backward-data as Winograd F(2,3) convolutions (cpu/winograd.h, the inference plan's kernels:
// 2.25x / 3.375x fewer multiplies) where the primitive's blocked layout is the 8-channel one those
// kernels read per sample (8- or 16-channel blocks; oneDNN picks 16 on AVX2) and conv_algorithm is not "direct".
// Backward-data is the correlation of dy with the weights flipped in space and transposed in
// channels. The output goes through the same reorder to plain that oneDNN's would; backward-
// weights stays oneDNN's. The weights are transformed on every call (they change every step).
#include <omp.h>

#include <cstdlib>
#include <cstring>

#include "core/host_memory.h"
#include "cpu/cpu_backend.h"
#include "cpu/dnnl_conv_util.h"
#include "cpu/inference_plan.h"
#include "cpu/winograd.h"
#include "ops/conv/cpu_pointwise.h"
#include "useg/error.h"

namespace useg::cpu {

using dnnl::memory;

namespace {

// conv_forward_training's handle: the input in the layout the forward primitive read it in.
struct SavedInput {
  std::shared_ptr<void> data;
  memory::desc md;
};

std::shared_ptr<void> aligned_buffer(size_t bytes) { return host_buffer(bytes); }

// A cached reorder between two layouts, as a DnnlOp whose arguments need no further reorders.
std::shared_ptr<const DnnlOp> reorder_op(DnnlContext& ctx, const std::string& key,
                                         const memory::desc& from, const memory::desc& to) {
  return ctx.op(key, [&] {
    dnnl::reorder::primitive_desc pd(ctx.engine(), from, ctx.engine(), to, ctx.attr());
    return ctx.make_op(pd, dnnl::reorder(pd),
                       {{DNNL_ARG_FROM, from, false}, {DNNL_ARG_TO, to, true}});
  });
}

const memory::desc& prim_md(const DnnlOp& op, int arg) {
  for (const DnnlArg& a : op.args)
    if (a.arg == arg) return a.prim_md;
  USEG_THROW("internal error: conv op has no argument " << arg);
}

// The Winograd path's geometry: kernel {1,3,3} or {3,3,3}, stride 1, padding 1 on 3-tap axes,
// at least 4096 positions per sample (below that, transforming the weights at every step costs
// more than the multiplies saved: 128 channels at 8^3 measured 2x slower than oneDNN); and the
// machine: where the inference plan uses Winograd (AVX2 + FMA, oneDNN at AVX2 — on AVX-512
// oneDNN's direct kernels are twice as wide).
bool winograd_geometry(CpuBackend& cb, const Shape& x, const ConvGeom& g) {
  if (!cb.winograd_allowed() || !plan_uses_winograd() || !WinogradConv::supports(g.kernel) ||
      x[2] * x[3] * x[4] < 4096)
    return false;
  for (int a = 0; a < 3; ++a)
    if (g.stride[a] != 1 || g.pad[a] != (g.kernel[a] == 3 ? 1 : 0)) return false;
  return true;
}

memory::desc blocked_md(const Shape& s, bool flat, int block) {
  using tag = memory::format_tag;
  const tag t = flat ? (block == 8 ? tag::nChw8c : tag::nChw16c)
                     : (block == 8 ? tag::nCdhw8c : tag::nCdhw16c);
  return memory::desc(dnnl_dims(s, flat), memory::data_type::f32, t);
}

// The channel block (8 or 16) when `md` is the dense blocked layout WinogradConv reads sample
// after sample (nChw8c / nCdhw8c / nChw16c / nCdhw16c of shape s), else 0.
int winograd_block(const memory::desc& md, const Shape& s, bool flat) {
  for (int b : {8, 16})
    if (md == blocked_md(s, flat, b)) return b;
  return 0;
}

WinogradConv& winograd_conv(CpuBackend& cb, const std::string& key, int64_t cin, int64_t cout,
                            const Shape& s, const std::array<int, 3>& kernel, int block) {
  auto& cache = cb.training_winograd();
  if (cache.size() >= DnnlContext::kMaxCachedOps) cache.clear();
  auto& wc = cache[key + " block " + std::to_string(block)];
  if (!wc)
    wc = std::make_unique<WinogradConv>(cin, cout, std::array<int64_t, 3>{s[2], s[3], s[4]},
                                        kernel, block);
  return *wc;
}

// `wc` over every sample of the blocked `src` (cin channels) into plain `out`, through a blocked
// buffer (caller slot 1) and one reorder.
void winograd_samples(CpuBackend& cb, DnnlContext& ctx, WinogradConv& wc, const float* src,
                      int64_t cin, Tensor& out, bool flat, int block, const std::string& key) {
  const Shape& os = out.shape();
  const int64_t spatial = os[2] * os[3] * os[4];
  const int64_t in_step = (cin + block - 1) / block * block * spatial,
                out_step = (os[1] + block - 1) / block * block * spatial;
  const memory::desc blk = blocked_md(os, flat, block);
  float* buf = static_cast<float*>(ctx.buffer(1, blk.get_size()));
  const int threads = omp_get_max_threads();
  std::vector<float>& scratch = cb.winograd_scratch();
  if (int64_t(scratch.size()) < wc.scratch_floats(threads))
    scratch.resize(size_t(wc.scratch_floats(threads)));
  for (int64_t i = 0; i < os[0]; ++i)
    wc.run(src + i * in_step, buf + i * out_step, false, 0.f, scratch.data(), threads);
  auto ro = reorder_op(ctx, key + " winograd output reorder", blk, plain_md(os, flat));
  ctx.run(*ro, {{DNNL_ARG_FROM, buf}, {DNNL_ARG_TO, out.data()}}, key);
}

}  // namespace

std::shared_ptr<void> conv_forward_training(BackendImpl& be, const Tensor& x, const Tensor& w,
                                            const Tensor* bias, Tensor& y, const ConvGeom& g) {
  const Shape &xs = x.shape(), &ws = w.shape();
  if (xs[0] == 0) return nullptr;
  if (is_pointwise_conv(g)) {  // plain matrix products, no reorders (cpu_pointwise.h)
    pointwise_conv_forward(x, w, bias, y);
    return nullptr;
  }
  DnnlContext& ctx = cpu(be).dnnl();
  std::lock_guard<std::mutex> lock(ctx.mutex());
  const bool flat = use_2d(xs, g);
  // The forward op with its source given in the primitive's own layout.
  std::string key = conv_key("conv_forward (src in its layout)", xs, ws, bias != nullptr, g);
  auto cached = ctx.op(key, [&] {
    ConvDims d = conv_dims(xs, ws, y.shape(), g);
    auto pd = fwd_pd(ctx, d, bias ? ws[0] : 0);
    std::vector<DnnlArgSpec> specs{{DNNL_ARG_SRC, pd.src_desc(), false},
                                   {DNNL_ARG_WEIGHTS, plain_md(ws, d.flat), false},
                                   {DNNL_ARG_DST, plain_md(y.shape(), d.flat), true}};
    if (bias) specs.push_back({DNNL_ARG_BIAS, vector_md(ws[0]), false});
    return ctx.make_op(pd, dnnl::convolution_forward(pd), specs);
  });
  const memory::desc& src_md = prim_md(*cached, DNNL_ARG_SRC);
  const memory::desc plain = plain_md(xs, flat);
  std::shared_ptr<SavedInput> saved;
  const void* src = x.data();
  if (!(src_md == plain)) {  // keep the reordered input for backward
    saved = std::make_shared<SavedInput>();
    saved->md = src_md;
    saved->data = aligned_buffer(src_md.get_size());
    auto ro = reorder_op(ctx, key + " input reorder", plain, src_md);
    ctx.run(*ro, {{DNNL_ARG_FROM, x.data()}, {DNNL_ARG_TO, saved->data.get()}}, key);
    src = saved->data.get();
  }
  const int block =
      saved && winograd_geometry(cpu(be), xs, g) ? winograd_block(src_md, xs, flat) : 0;
  if (block) {
    WinogradConv& wc = winograd_conv(cpu(be), key, xs[1], ws[0], xs, g.kernel, block);
    std::vector<float> no_bias(bias ? 0 : size_t(ws[0]), 0.f);
    wc.set_weights(w.data(), bias ? bias->data() : no_bias.data());
    winograd_samples(cpu(be), ctx, wc, static_cast<const float*>(src), xs[1], y, flat, block, key);
    return saved;
  }
  DnnlPtrs ptrs{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w.data()}, {DNNL_ARG_DST, y.data()}};
  if (bias) ptrs.emplace_back(DNNL_ARG_BIAS, bias->data());
  ctx.run(*cached, ptrs, key);
  return saved;
}

// x is undefined only where saved_handle holds it (Backend::ConvSaved): then only xs is read.
void conv_backward(BackendImpl& be, const Tensor& x, const Shape& xs, const Tensor& dy,
                   const Tensor& w, Tensor* dx, Tensor& dw, Tensor* dbias, const ConvGeom& g,
                   const std::shared_ptr<void>& saved_handle) {
  const char* op = "conv_backward";
  USEG_CHECK(w.shape() == dw.shape(), op << ": weight " << w.shape().str() << " and dw "
                                         << dw.shape().str() << " differ");
  const Shape& ws = dw.shape();
  USEG_CHECK(x.defined() || saved_handle, op << ": no input and no saved copy of it");
  if (xs[0] == 0) {  // no samples: the gradients are zero
    std::memset(dw.data(), 0, dw.bytes());
    if (dbias) std::memset(dbias->data(), 0, dbias->bytes());
    return;
  }
  if (is_pointwise_conv(g)) {
    pointwise_conv_backward(x, dy, w, dx, dw, dbias);
    return;
  }
  // Handles come from this backend's conv_forward_training for the same x (see backend.h).
  const auto* saved = static_cast<const SavedInput*>(saved_handle.get());
  DnnlContext& ctx = cpu(be).dnnl();
  std::lock_guard<std::mutex> lock(ctx.mutex());
  const bool flat = use_2d(xs, g);
  const memory::desc dy_plain = plain_md(dy.shape(), flat);
  // Backward-weights with diff_dst given in its own layout, src saved (or plain).
  std::string key = conv_key(saved ? "conv_backward_weights (saved src, dy in its layout)"
                                   : "conv_backward_weights (dy in its layout)",
                             xs, ws, dbias != nullptr, g);
  auto bw = ctx.op(key, [&] {
    ConvDims d = conv_dims(xs, ws, dy.shape(), g);
    auto hint = fwd_pd(ctx, d, dbias ? ws[0] : 0);
    auto desc = dbias ? dnnl::convolution_backward_weights::desc(
                            dnnl::algorithm::convolution_direct, any_md(d.x), any_md(d.w),
                            vector_md(ws[0]), any_md(d.y), d.strides, d.pad_l, d.pad_r)
                      : dnnl::convolution_backward_weights::desc(
                            dnnl::algorithm::convolution_direct, any_md(d.x), any_md(d.w),
                            any_md(d.y), d.strides, d.pad_l, d.pad_r);
    dnnl::convolution_backward_weights::primitive_desc pd(desc, ctx.attr(), ctx.engine(), hint);
    std::vector<DnnlArgSpec> specs{{DNNL_ARG_SRC, saved ? saved->md : plain_md(xs, d.flat), false},
                                   {DNNL_ARG_DIFF_DST, pd.diff_dst_desc(), false},
                                   {DNNL_ARG_DIFF_WEIGHTS, plain_md(ws, d.flat), true}};
    if (dbias) specs.push_back({DNNL_ARG_DIFF_BIAS, vector_md(ws[0]), true});
    return ctx.make_op(pd, dnnl::convolution_backward_weights(pd), specs);
  });
  // dy in the backward primitives' layout, in caller slot 0 (run() uses the slots above it).
  const memory::desc& dy_md = prim_md(*bw, DNNL_ARG_DIFF_DST);
  const void* dy_blk = dy.data();
  if (!(dy_md == dy_plain)) {
    void* buf = ctx.buffer(0, dy_md.get_size());
    auto ro = reorder_op(ctx, key + " dy reorder", dy_plain, dy_md);
    ctx.run(*ro, {{DNNL_ARG_FROM, dy.data()}, {DNNL_ARG_TO, buf}}, key);
    dy_blk = buf;
  }
  DnnlPtrs ptrs{{DNNL_ARG_SRC, saved ? saved->data.get() : x.data()},
                {DNNL_ARG_DIFF_DST, dy_blk},
                {DNNL_ARG_DIFF_WEIGHTS, dw.data()}};
  if (dbias) ptrs.emplace_back(DNNL_ARG_DIFF_BIAS, dbias->data());
  ctx.run(*bw, ptrs, key);
  if (!dx) return;
  if (winograd_geometry(cpu(be), xs, g)) {
    // dy as WinogradConv reads it: the backward primitives' layout when that is 8- or
    // 16-blocked, else (oneDNN at AVX2 gives backward-weights a plain dy) a reorder of dy into
    // 8-channel blocks of our own.
    int block = winograd_block(dy_md, dy.shape(), flat);
    const float* dy_w = static_cast<const float*>(dy_blk);
    if (!block) {
      block = 8;
      const memory::desc b8 = blocked_md(dy.shape(), flat, 8);
      std::vector<float>& buf = cpu(be).winograd_input();
      if (buf.size() < b8.get_size() / sizeof(float)) buf.resize(b8.get_size() / sizeof(float));
      auto ro = reorder_op(ctx, key + " dy reorder to 8-blocks", dy_plain, b8);
      ctx.run(*ro, {{DNNL_ARG_FROM, dy.data()}, {DNNL_ARG_TO, buf.data()}}, key);
      dy_w = buf.data();
    }
    // dx = correlation of dy with w flipped in space, input and output channels swapped.
    const int64_t co = ws[0], ci = ws[1], taps = ws[2] * ws[3] * ws[4];
    std::vector<float> wt(size_t(w.numel())), no_bias(size_t(ci), 0.f);
    const float* wp = w.data();
    for (int64_t o = 0; o < co; ++o)
      for (int64_t i = 0; i < ci; ++i)
        for (int64_t t = 0; t < taps; ++t)
          wt[size_t((i * co + o) * taps + t)] = wp[(o * ci + i) * taps + (taps - 1 - t)];
    const std::string wkey = conv_key("conv_backward_data (winograd)", xs, ws, false, g);
    WinogradConv& wc = winograd_conv(cpu(be), wkey, co, ci, xs, g.kernel, block);
    wc.set_weights(wt.data(), no_bias.data());
    winograd_samples(cpu(be), ctx, wc, dy_w, co, *dx, flat, block, wkey);
    return;
  }
  // Backward-data from the same reordered dy (make_op adds a reorder only if it chose another).
  std::string dkey = conv_key("conv_backward_data (dy in the backward layout)", xs, ws, false, g);
  auto bd = ctx.op(dkey, [&] {
    ConvDims d = conv_dims(xs, ws, dy.shape(), g);
    auto hint = fwd_pd(ctx, d, 0);
    dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct, any_md(d.x),
                                               any_md(d.w), any_md(d.y), d.strides, d.pad_l,
                                               d.pad_r);
    dnnl::convolution_backward_data::primitive_desc pd(desc, ctx.attr(), ctx.engine(), hint);
    return ctx.make_op(pd, dnnl::convolution_backward_data(pd),
                       {{DNNL_ARG_DIFF_DST, dy_md, false},
                        {DNNL_ARG_WEIGHTS, plain_md(ws, d.flat), false},
                        {DNNL_ARG_DIFF_SRC, plain_md(xs, d.flat), true}});
  });
  ctx.run(*bd,
          {{DNNL_ARG_DIFF_DST, dy_blk}, {DNNL_ARG_WEIGHTS, w.data()},
           {DNNL_ARG_DIFF_SRC, dx->data()}},
          dkey);
}

void add_conv_training_ops(BackendOps& t) {
  t.conv_forward_training = conv_forward_training;
  t.conv_backward = conv_backward;
}

}  // namespace useg::cpu
