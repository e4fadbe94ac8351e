// Transposed convolution on the CPU backend: oneDNN deconvolution forward, backward-data and
// backward-weights (+ bias). The API's weights are PyTorch's [Ci, Co, kD, kH, kW]; oneDNN's
// deconvolution weights have logical dims [Co, Ci, k...], so the caller's buffer is described as
// those dims in the iodhw (iohw) layout and oneDNN's reorder does the transpose when it differs
// from the layout the primitive chose. No transposed copy of our own. Transposed convolutions
// whose stride equals their kernel (U-Net up-sampling) run as matrix products instead
// (cpu_deconv_gemm.h).
#include <cstring>
#include <sstream>

#include "cpu/cpu_backend.h"
#include "cpu/dnnl_context.h"
#include "core/op_checks.h"
#include "ops/conv/cpu_deconv_gemm.h"

namespace useg::cpu {

namespace {

using dnnl::memory;

bool use_2d(const Shape& x, const ConvGeom& g) {
  return x[2] == 1 && g.kernel[0] == 1 && g.pad[0] == 0;
}

std::string deconv_key(const char* op, const Shape& x, const Shape& w, bool bias,
                       const ConvGeom& g) {
  std::ostringstream os;
  os << op << " x " << x.str() << " w " << w.str() << (bias ? " +bias " : " ") << geom_str(g);
  return os.str();
}

// The caller's [Ci, Co, k...] weight buffer as oneDNN's logical [Co, Ci, k...].
memory::desc user_weight_md(const Shape& w, bool flat) {
  using tag = memory::format_tag;
  return {dnnl_dims(w, flat, /*swap01=*/true), memory::data_type::f32,
          flat ? tag::iohw : tag::iodhw};
}

struct DeconvDims {
  bool flat;
  memory::dims x, w, y, strides, pad;
};

DeconvDims deconv_dims(const Shape& x, const Shape& w, const Shape& y, const ConvGeom& g) {
  DeconvDims d;
  d.flat = use_2d(x, g);
  d.x = dnnl_dims(x, d.flat);
  d.w = dnnl_dims(w, d.flat, /*swap01=*/true);
  d.y = dnnl_dims(y, d.flat);
  d.strides = spatial_dims(g.stride, d.flat);
  // The output size (in-1)*s - 2p + k is exactly consistent with symmetric padding.
  d.pad = spatial_dims(g.pad, d.flat);
  return d;
}

dnnl::deconvolution_forward::primitive_desc fwd_pd(const DnnlContext& ctx, const DeconvDims& d,
                                                   int64_t bias_channels) {
  memory::desc b = bias_channels > 0 ? vector_md(bias_channels) : memory::desc();
  dnnl::deconvolution_forward::desc desc(dnnl::prop_kind::forward_training,
                                         dnnl::algorithm::deconvolution_direct, any_md(d.x),
                                         any_md(d.w), b, any_md(d.y), d.strides, d.pad, d.pad);
  return {desc, ctx.attr(), ctx.engine()};
}

}  // namespace

void deconv_forward(BackendImpl& be, const Tensor& x, const Tensor& w, const Tensor* bias,
                    Tensor& y, const ConvGeom& g) {
  const char* op = "deconv_forward";
  const Shape &xs = x.shape(), &ws = w.shape();
  if (xs[0] == 0) return;
  if (is_stride_kernel_deconv(g)) return deconv_gemm_forward(x, w, bias, y, g);

  DnnlContext& ctx = cpu(be).dnnl();
  std::lock_guard<std::mutex> lock(ctx.mutex());
  std::string key = deconv_key(op, xs, ws, bias != nullptr, g);
  auto cached = ctx.op(key, [&] {
    DeconvDims d = deconv_dims(xs, ws, y.shape(), g);
    auto pd = fwd_pd(ctx, d, bias ? ws[1] : 0);
    std::vector<DnnlArgSpec> specs{{DNNL_ARG_SRC, plain_md(xs, d.flat), false},
                                   {DNNL_ARG_WEIGHTS, user_weight_md(ws, d.flat), false},
                                   {DNNL_ARG_DST, plain_md(y.shape(), d.flat), true}};
    if (bias) specs.push_back({DNNL_ARG_BIAS, vector_md(ws[1]), false});
    return ctx.make_op(pd, dnnl::deconvolution_forward(pd), specs);
  });
  DnnlPtrs ptrs{{DNNL_ARG_SRC, x.data()}, {DNNL_ARG_WEIGHTS, w.data()}, {DNNL_ARG_DST, y.data()}};
  if (bias) ptrs.emplace_back(DNNL_ARG_BIAS, bias->data());
  ctx.run(*cached, ptrs, key);
}

void deconv_backward_data(BackendImpl& be, const Tensor& dy, const Tensor& w, Tensor& dx,
                          const ConvGeom& g) {
  const char* op = "deconv_backward_data";
  const Shape &xs = dx.shape(), &ws = w.shape();
  if (xs[0] == 0) return;
  if (is_stride_kernel_deconv(g)) return deconv_gemm_backward_data(dy, w, dx, g);

  DnnlContext& ctx = cpu(be).dnnl();
  std::lock_guard<std::mutex> lock(ctx.mutex());
  std::string key = deconv_key(op, xs, ws, false, g);
  auto cached = ctx.op(key, [&] {
    DeconvDims d = deconv_dims(xs, ws, dy.shape(), g);
    auto hint = fwd_pd(ctx, d, 0);
    dnnl::deconvolution_backward_data::desc desc(dnnl::algorithm::deconvolution_direct,
                                                 any_md(d.x), any_md(d.w), any_md(d.y),
                                                 d.strides, d.pad, d.pad);
    dnnl::deconvolution_backward_data::primitive_desc pd(desc, ctx.attr(), ctx.engine(), hint);
    return ctx.make_op(pd, dnnl::deconvolution_backward_data(pd),
                       {{DNNL_ARG_DIFF_DST, plain_md(dy.shape(), d.flat), false},
                        {DNNL_ARG_WEIGHTS, user_weight_md(ws, d.flat), false},
                        {DNNL_ARG_DIFF_SRC, plain_md(xs, d.flat), true}});
  });
  ctx.run(*cached,
          {{DNNL_ARG_DIFF_DST, dy.data()}, {DNNL_ARG_WEIGHTS, w.data()},
           {DNNL_ARG_DIFF_SRC, dx.data()}},
          key);
}

void deconv_backward_weights(BackendImpl& be, const Tensor& x, const Tensor& dy, Tensor& dw,
                             Tensor* dbias, const ConvGeom& g) {
  const char* op = "deconv_backward_weights";
  const Shape &xs = x.shape(), &ws = dw.shape();
  if (xs[0] == 0) {  // no samples: the gradients are zero
    std::memset(dw.data(), 0, dw.bytes());
    if (dbias) std::memset(dbias->data(), 0, dbias->bytes());
    return;
  }
  if (is_stride_kernel_deconv(g)) return deconv_gemm_backward_weights(x, dy, dw, dbias, g);

  DnnlContext& ctx = cpu(be).dnnl();
  std::lock_guard<std::mutex> lock(ctx.mutex());
  std::string key = deconv_key(op, xs, ws, dbias != nullptr, g);
  auto cached = ctx.op(key, [&] {
    DeconvDims d = deconv_dims(xs, ws, dy.shape(), g);
    auto hint = fwd_pd(ctx, d, dbias ? ws[1] : 0);
    auto desc = dbias ? dnnl::deconvolution_backward_weights::desc(
                            dnnl::algorithm::deconvolution_direct, any_md(d.x), any_md(d.w),
                            vector_md(ws[1]), any_md(d.y), d.strides, d.pad, d.pad)
                      : dnnl::deconvolution_backward_weights::desc(
                            dnnl::algorithm::deconvolution_direct, any_md(d.x), any_md(d.w),
                            any_md(d.y), d.strides, d.pad, d.pad);
    dnnl::deconvolution_backward_weights::primitive_desc pd(desc, ctx.attr(), ctx.engine(),
                                                            hint);
    std::vector<DnnlArgSpec> specs{{DNNL_ARG_SRC, plain_md(xs, d.flat), false},
                                   {DNNL_ARG_DIFF_DST, plain_md(dy.shape(), d.flat), false},
                                   {DNNL_ARG_DIFF_WEIGHTS, user_weight_md(ws, d.flat), true}};
    if (dbias) specs.push_back({DNNL_ARG_DIFF_BIAS, vector_md(ws[1]), true});
    return ctx.make_op(pd, dnnl::deconvolution_backward_weights(pd), specs);
  });
  DnnlPtrs ptrs{{DNNL_ARG_SRC, x.data()}, {DNNL_ARG_DIFF_DST, dy.data()},
                {DNNL_ARG_DIFF_WEIGHTS, dw.data()}};
  if (dbias) ptrs.emplace_back(DNNL_ARG_DIFF_BIAS, dbias->data());
  ctx.run(*cached, ptrs, key);
}

void add_deconv_ops(BackendOps& t) {
  t.deconv_forward = deconv_forward;
  t.deconv_backward_data = deconv_backward_data;
  t.deconv_backward_weights = deconv_backward_weights;
}

}  // namespace useg::cpu
