// Argument checks of the oneDNN-backed ops (conv, deconv, pool): each throws useg::Error naming the op, the
// argument and its shape, so a caller can tell which tensor was wrong and what was expected.
#pragma once

#include <array>
#include <sstream>
#include <string>

#include "useg/backend.h"
#include "useg/error.h"

namespace useg::cpu {

inline std::string axes_str(const std::array<int, 3>& v) {
  std::ostringstream os;
  os << v[0] << "x" << v[1] << "x" << v[2];
  return os.str();
}

inline std::string geom_str(const ConvGeom& g) {
  return "kernel " + axes_str(g.kernel) + " stride " + axes_str(g.stride) + " pad " +
         axes_str(g.pad);
}

inline std::string geom_str(const PoolGeom& g) {
  return "kernel " + axes_str(g.kernel) + " stride " + axes_str(g.stride);
}

// A defined, CPU, rank-5 (NCDHW) tensor with a non-empty channel and spatial extent.
inline void check_ncdhw(const char* op, const char* role, const Tensor& t) {
  USEG_CHECK(t.defined(), op << ": " << role << " is an undefined tensor");
  USEG_CHECK(t.device() == Device::CPU,
             op << ": " << role << " " << t.shape().str() << " is on " << device_name(t.device())
                << ", the cpu backend needs cpu tensors");
  USEG_CHECK(t.shape().rank() == 5,
             op << ": " << role << " must be rank 5 (NCDHW), got " << t.shape().str());
  const Shape& s = t.shape();
  USEG_CHECK(s[1] > 0 && s[2] > 0 && s[3] > 0 && s[4] > 0,
             op << ": " << role << " " << s.str() << " has an empty channel or spatial dimension");
}

// A rank-1 [n] CPU tensor (bias, its gradient).
inline void check_vector(const char* op, const char* role, const Tensor& t, int64_t n,
                         const std::string& why) {
  USEG_CHECK(t.defined() && t.device() == Device::CPU,
             op << ": " << role << " must be a defined cpu tensor");
  USEG_CHECK(t.shape() == Shape{n},
             op << ": " << role << " is " << t.shape().str() << ", expected [" << n << "] ("
                << why << ")");
}

inline void check_geom(const char* op, const ConvGeom& g) {
  for (int a = 0; a < 3; ++a)
    USEG_CHECK(g.kernel[a] >= 1 && g.stride[a] >= 1 && g.pad[a] >= 0,
               op << ": invalid geometry " << geom_str(g)
                  << " (kernel and stride must be >= 1, pad >= 0)");
}

inline void check_geom(const char* op, const PoolGeom& g) {
  for (int a = 0; a < 3; ++a)
    USEG_CHECK(g.kernel[a] >= 1 && g.stride[a] >= 1,
               op << ": invalid geometry " << geom_str(g) << " (kernel and stride must be >= 1)");
}

// A convolution-style weight: rank 5 with spatial extent equal to the geometry's kernel.
inline void check_weight(const char* op, const char* role, const Tensor& w, const ConvGeom& g) {
  USEG_CHECK(w.defined() && w.device() == Device::CPU,
             op << ": " << role << " must be a defined cpu tensor");
  const Shape& s = w.shape();
  USEG_CHECK(s.rank() == 5 && s[0] > 0 && s[1] > 0,
             op << ": " << role << " must be rank 5 [channels, channels, kD, kH, kW], got "
                << s.str());
  USEG_CHECK(s[2] == g.kernel[0] && s[3] == g.kernel[1] && s[4] == g.kernel[2],
             op << ": " << role << " " << s.str() << " does not match kernel "
                << axes_str(g.kernel));
}

// `actual` must equal `expected`, the shape the op computes from its inputs.
inline void check_shape(const char* op, const char* role, const Tensor& t, const Shape& expected,
                        const std::string& from) {
  USEG_CHECK(t.shape() == expected, op << ": " << role << " is " << t.shape().str()
                                       << ", expected " << expected.str() << " for " << from);
}

}  // namespace useg::cpu
