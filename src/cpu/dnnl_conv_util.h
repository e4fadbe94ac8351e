// Helpers shared by the convolution ops (dnnl_conv.cpp) and their training fast path
// (dnnl_conv_train.cpp): shape checks, cache keys and oneDNN descriptors. Only src/cpu includes
// this header.
#pragma once

#include <sstream>
#include <string>

#include "cpu/dnnl_checks.h"
#include "cpu/dnnl_context.h"

namespace useg::cpu {


// The output shape of a convolution, with the kernel-vs-input check naming the op.
inline Shape conv_out_shape(const char* op, const Shape& x, int64_t cout, const ConvGeom& g) {
  for (int a = 0; a < 3; ++a)
    USEG_CHECK(x[2 + a] + 2 * g.pad[a] >= g.kernel[a],
               op << ": kernel " << axes_str(g.kernel) << " is larger than the padded input "
                  << x.str() << " (pad " << axes_str(g.pad) << ")");
  return conv_output_shape(x, cout, g);
}

inline bool use_2d(const Shape& x, const ConvGeom& g) {
  return x[2] == 1 && g.kernel[0] == 1 && g.pad[0] == 0;
}

inline std::string conv_key(const char* op, const Shape& x, const Shape& w, bool bias,
                     const ConvGeom& g) {
  std::ostringstream os;
  os << op << " x " << x.str() << " w " << w.str() << (bias ? " +bias " : " ") << geom_str(g);
  return os.str();
}

// Descriptors shared by the three directions: the geometry in oneDNN terms.
struct ConvDims {
  bool flat;
  dnnl::memory::dims x, w, y, strides, pad_l, pad_r;
};

inline ConvDims conv_dims(const Shape& x, const Shape& w, const Shape& y, const ConvGeom& g) {
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
inline dnnl::convolution_forward::primitive_desc fwd_pd(const DnnlContext& ctx, const ConvDims& d,
                                                 int64_t bias_channels) {
  dnnl::memory::desc b = bias_channels > 0 ? vector_md(bias_channels) : dnnl::memory::desc();
  dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_training,
                                       dnnl::algorithm::convolution_direct, any_md(d.x),
                                       any_md(d.w), b, any_md(d.y), d.strides, d.pad_l, d.pad_r);
  return {desc, ctx.attr(), ctx.engine()};
}

// Shape checks of the three directions (shared with dnnl_conv_train.cpp).
inline void check_conv_forward(const char* op, const Tensor& x, const Tensor& w, const Tensor* bias,
                   const Tensor& y, const ConvGeom& g) {
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
}

inline void check_conv_backward_data(const char* op, const Tensor& dy, const Tensor& w, const Tensor& dx,
                         const ConvGeom& g) {
  check_geom(op, g);
  check_ncdhw(op, "dy", dy);
  check_weight(op, "weight", w, g);
  check_ncdhw(op, "dx", dx);
  const Shape &xs = dx.shape(), &ws = w.shape();
  USEG_CHECK(ws[1] == xs[1], op << ": weight " << ws.str() << " expects " << ws[1]
                                << " input channels, dx is " << xs.str());
  check_shape(op, "dy", dy, conv_out_shape(op, xs, ws[0], g),
              "dx " + xs.str() + ", weight " + ws.str() + ", " + geom_str(g));
}

inline void check_conv_backward_weights(const char* op, const Tensor& x, const Tensor& dy, const Tensor& dw,
                            const Tensor* dbias, const ConvGeom& g) {
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
}

}  // namespace useg::cpu
