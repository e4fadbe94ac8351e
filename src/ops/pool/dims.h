// Host side of ops/pool/pool.h: the plane geometry (ops::PoolDims) of a pooling from the
// tensors' shapes and the window, for the CPU loops and the CUDA launches alike.
#pragma once

#include "ops/pool/pool.h"
#include "useg/backend.h"

namespace useg::ops {

inline PoolDims pool_plane_dims(const Shape& x, const Shape& y, const PoolGeom& g) {
  PoolDims p{};
  for (int a = 0; a < 3; ++a) {
    p.in[a] = x[2 + a];
    p.out[a] = y[2 + a];
    p.kernel[a] = g.kernel[a];
    p.stride[a] = g.stride[a];
  }
  return p;
}

}  // namespace useg::ops
