// Convolution on the CPU backend: oneDNN forward, backward-data and backward-weights (+ bias)
// primitives, 2D or 3D. Primitives choose their layouts (format_tag::any); DnnlContext reorders
// from and to the caller's plain NCDHW buffers where the choice differs, and caches everything
// per shape. A 2D case (D == 1 with a depth-1 kernel and no depth padding) uses 2D descriptors.
// The transposed convolutions are in cpu_deconv.cpp, the training fast path in cpu_train.cpp.
#include <cstring>
#include <sstream>

#include "cpu/cpu_backend.h"
#include "cpu/dnnl_conv_util.h"
#include "useg/error.h"

namespace useg::cpu {

using dnnl::memory;

void conv_forward(BackendImpl& be, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                  const ConvGeom& g) {
  const char* op = "conv_forward";
  const Shape &xs = x.shape(), &ws = w.shape();
  if (xs[0] == 0) return;

  DnnlContext& ctx = cpu(be).dnnl();
  std::lock_guard<std::mutex> lock(ctx.mutex());
  std::string key = conv_key(op, xs, ws, bias != nullptr, g);
  auto cached = ctx.op(key, [&] {
    ConvDims d = conv_dims(xs, ws, y.shape(), g);
    auto pd = fwd_pd(ctx, d, bias ? ws[0] : 0);
    std::vector<DnnlArgSpec> specs{{DNNL_ARG_SRC, plain_md(xs, d.flat), false},
                                   {DNNL_ARG_WEIGHTS, plain_md(ws, d.flat), false},
                                   {DNNL_ARG_DST, plain_md(y.shape(), d.flat), true}};
    if (bias) specs.push_back({DNNL_ARG_BIAS, vector_md(ws[0]), false});
    return ctx.make_op(pd, dnnl::convolution_forward(pd), specs);
  });
  DnnlPtrs ptrs{{DNNL_ARG_SRC, x.data()}, {DNNL_ARG_WEIGHTS, w.data()}, {DNNL_ARG_DST, y.data()}};
  if (bias) ptrs.emplace_back(DNNL_ARG_BIAS, bias->data());
  ctx.run(*cached, ptrs, key);
}

void conv_backward_data(BackendImpl& be, const Tensor& dy, const Tensor& w, Tensor& dx,
                        const ConvGeom& g) {
  const char* op = "conv_backward_data";
  const Shape &xs = dx.shape(), &ws = w.shape();
  if (xs[0] == 0) return;

  DnnlContext& ctx = cpu(be).dnnl();
  std::lock_guard<std::mutex> lock(ctx.mutex());
  std::string key = conv_key(op, xs, ws, false, g);
  auto cached = ctx.op(key, [&] {
    ConvDims d = conv_dims(xs, ws, dy.shape(), g);
    auto hint = fwd_pd(ctx, d, 0);
    dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct, any_md(d.x),
                                               any_md(d.w), any_md(d.y), d.strides, d.pad_l,
                                               d.pad_r);
    dnnl::convolution_backward_data::primitive_desc pd(desc, ctx.attr(), ctx.engine(), hint);
    return ctx.make_op(pd, dnnl::convolution_backward_data(pd),
                       {{DNNL_ARG_DIFF_DST, plain_md(dy.shape(), d.flat), false},
                        {DNNL_ARG_WEIGHTS, plain_md(ws, d.flat), false},
                        {DNNL_ARG_DIFF_SRC, plain_md(xs, d.flat), true}});
  });
  ctx.run(*cached,
          {{DNNL_ARG_DIFF_DST, dy.data()}, {DNNL_ARG_WEIGHTS, w.data()},
           {DNNL_ARG_DIFF_SRC, dx.data()}},
          key);
}

void conv_backward_weights(BackendImpl& be, const Tensor& x, const Tensor& dy, Tensor& dw,
                           Tensor* dbias, const ConvGeom& g) {
  const char* op = "conv_backward_weights";
  const Shape &xs = x.shape(), &ws = dw.shape();
  if (xs[0] == 0) {  // no samples: the gradients are zero
    std::memset(dw.data(), 0, dw.bytes());
    if (dbias) std::memset(dbias->data(), 0, dbias->bytes());
    return;
  }

  DnnlContext& ctx = cpu(be).dnnl();
  std::lock_guard<std::mutex> lock(ctx.mutex());
  std::string key = conv_key(op, xs, ws, dbias != nullptr, g);
  auto cached = ctx.op(key, [&] {
    ConvDims d = conv_dims(xs, ws, dy.shape(), g);
    auto hint = fwd_pd(ctx, d, dbias ? ws[0] : 0);
    auto desc = dbias ? dnnl::convolution_backward_weights::desc(
                            dnnl::algorithm::convolution_direct, any_md(d.x), any_md(d.w),
                            vector_md(ws[0]), any_md(d.y), d.strides, d.pad_l, d.pad_r)
                      : dnnl::convolution_backward_weights::desc(
                            dnnl::algorithm::convolution_direct, any_md(d.x), any_md(d.w),
                            any_md(d.y), d.strides, d.pad_l, d.pad_r);
    dnnl::convolution_backward_weights::primitive_desc pd(desc, ctx.attr(), ctx.engine(), hint);
    std::vector<DnnlArgSpec> specs{{DNNL_ARG_SRC, plain_md(xs, d.flat), false},
                                   {DNNL_ARG_DIFF_DST, plain_md(dy.shape(), d.flat), false},
                                   {DNNL_ARG_DIFF_WEIGHTS, plain_md(ws, d.flat), true}};
    if (dbias) specs.push_back({DNNL_ARG_DIFF_BIAS, vector_md(ws[0]), true});
    return ctx.make_op(pd, dnnl::convolution_backward_weights(pd), specs);
  });
  DnnlPtrs ptrs{{DNNL_ARG_SRC, x.data()}, {DNNL_ARG_DIFF_DST, dy.data()},
                {DNNL_ARG_DIFF_WEIGHTS, dw.data()}};
  if (dbias) ptrs.emplace_back(DNNL_ARG_DIFF_BIAS, dbias->data());
  ctx.run(*cached, ptrs, key);
}

void add_conv_training_ops(BackendOps& t);  // cpu_train.cpp
void add_deconv_ops(BackendOps& t);         // cpu_deconv.cpp

void add_conv_ops(BackendOps& t) {
  t.conv_forward = conv_forward;
  t.conv_backward_data = conv_backward_data;
  t.conv_backward_weights = conv_backward_weights;
  add_conv_training_ops(t);
  add_deconv_ops(t);
}

}  // namespace useg::cpu
