// Convolution on the CPU backend: oneDNN forward, backward-data and backward-weights (+ bias)
// primitives, 2D or 3D. Primitives choose their layouts (format_tag::any); DnnlContext reorders
// from and to the caller's plain NCDHW buffers where the choice differs, and caches everything
// per shape. A 2D case (D == 1 with a depth-1 kernel and no depth padding) uses 2D descriptors.
#include <cstring>
#include <sstream>

#include "cpu/cpu_backend.h"
#include "cpu/dnnl_context.h"
#include "cpu/dnnl_checks.h"

namespace useg::cpu {

namespace {

using dnnl::memory;

// The output shape of a convolution, with the kernel-vs-input check naming the op.
Shape conv_out_shape(const char* op, const Shape& x, int64_t cout, const ConvGeom& g) {
  for (int a = 0; a < 3; ++a)
    USEG_CHECK(x[2 + a] + 2 * g.pad[a] >= g.kernel[a],
               op << ": kernel " << axes_str(g.kernel) << " is larger than the padded input "
                  << x.str() << " (pad " << axes_str(g.pad) << ")");
  return conv_output_shape(x, cout, g);
}

bool use_2d(const Shape& x, const ConvGeom& g) {
  return x[2] == 1 && g.kernel[0] == 1 && g.pad[0] == 0;
}

std::string conv_key(const char* op, const Shape& x, const Shape& w, bool bias,
                     const ConvGeom& g) {
  std::ostringstream os;
  os << op << " x " << x.str() << " w " << w.str() << (bias ? " +bias " : " ") << geom_str(g);
  return os.str();
}

// Descriptors shared by the three directions: the geometry in oneDNN terms.
struct ConvDims {
  bool flat;
  memory::dims x, w, y, strides, pad_l, pad_r;
};

ConvDims conv_dims(const Shape& x, const Shape& w, const Shape& y, const ConvGeom& g) {
  ConvDims d;
  d.flat = use_2d(x, g);
  d.x = dnnl_dims(x, d.flat);
  d.w = dnnl_dims(w, d.flat);
  d.y = dnnl_dims(y, d.flat);
  d.strides = spatial_dims(g.stride, d.flat);
  d.pad_l = spatial_dims(g.pad, d.flat);
  d.pad_r = conv_pad_r(x, y, g.kernel, g.stride, g.pad, d.flat);
  return d;
}

// Forward primitive descriptor: the op itself, and the hint every backward primitive needs.
dnnl::convolution_forward::primitive_desc fwd_pd(const DnnlContext& ctx, const ConvDims& d,
                                                 int64_t bias_channels) {
  memory::desc b = bias_channels > 0 ? vector_md(bias_channels) : memory::desc();
  dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_training,
                                       dnnl::algorithm::convolution_direct, any_md(d.x),
                                       any_md(d.w), b, any_md(d.y), d.strides, d.pad_l, d.pad_r);
  return {desc, ctx.attr(), ctx.engine()};
}

}  // namespace

void CpuBackend::conv_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                              const ConvGeom& g) {
  const char* op = "conv_forward";
  check_geom(op, g);
  check_ncdhw(op, "input", x);
  check_weight(op, "weight", w, g);
  check_ncdhw(op, "output", y);
  const Shape &xs = x.shape(), &ws = w.shape();
  USEG_CHECK(ws[1] == xs[1], op << ": weight " << ws.str() << " expects " << ws[1]
                                << " input channels, input is " << xs.str());
  if (bias)
    check_vector(op, "bias", *bias, ws[0], "one per output channel of weight " + ws.str());
  check_shape(op, "output", y, conv_out_shape(op, xs, ws[0], g),
              "input " + xs.str() + ", weight " + ws.str() + ", " + geom_str(g));
  if (xs[0] == 0) return;

  DnnlContext& ctx = dnnl();
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

void CpuBackend::conv_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx,
                                    const ConvGeom& g) {
  const char* op = "conv_backward_data";
  check_geom(op, g);
  check_ncdhw(op, "dy", dy);
  check_weight(op, "weight", w, g);
  check_ncdhw(op, "dx", dx);
  const Shape &xs = dx.shape(), &ws = w.shape();
  USEG_CHECK(ws[1] == xs[1], op << ": weight " << ws.str() << " expects " << ws[1]
                                << " input channels, dx is " << xs.str());
  check_shape(op, "dy", dy, conv_out_shape(op, xs, ws[0], g),
              "dx " + xs.str() + ", weight " + ws.str() + ", " + geom_str(g));
  if (xs[0] == 0) return;

  DnnlContext& ctx = dnnl();
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

void CpuBackend::conv_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw,
                                       Tensor* dbias, const ConvGeom& g) {
  const char* op = "conv_backward_weights";
  check_geom(op, g);
  check_ncdhw(op, "input", x);
  check_ncdhw(op, "dy", dy);
  check_weight(op, "dw", dw, g);
  const Shape &xs = x.shape(), &ws = dw.shape();
  USEG_CHECK(ws[1] == xs[1], op << ": dw " << ws.str() << " expects " << ws[1]
                                << " input channels, input is " << xs.str());
  if (dbias)
    check_vector(op, "dbias", *dbias, ws[0], "one per output channel of dw " + ws.str());
  check_shape(op, "dy", dy, conv_out_shape(op, xs, ws[0], g),
              "input " + xs.str() + ", dw " + ws.str() + ", " + geom_str(g));
  if (xs[0] == 0) {  // no samples: the gradients are zero
    std::memset(dw.data(), 0, dw.bytes());
    if (dbias) std::memset(dbias->data(), 0, dbias->bytes());
    return;
  }

  DnnlContext& ctx = dnnl();
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

}  // namespace useg::cpu
