// Helpers shared by the convolution ops (src/ops/conv/cpu.cpp) and their training fast path
// (src/ops/conv/cpu_train.cpp): cache keys and oneDNN descriptors. Only the CPU side includes
// this header.
#pragma once

#include <sstream>
#include <string>

#include "core/op_checks.h"
#include "cpu/dnnl_context.h"

namespace useg::cpu {


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

}  // namespace useg::cpu
