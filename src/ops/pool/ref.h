// Naive reference for max and average pooling (no padding, floor output size), independent of
// ops/pool/pool.h.
#pragma once

#include "ops/ref_util.h"
#include "useg/backend.h"

namespace useg::ref {

// y[n,c,o] = max over the window starting at o*stride of x; output (in - kernel) / stride + 1.
Array maxpool_forward(const Array& x, const PoolGeom& g);
// dx = 0, then each dy[n,c,o] is added to the first maximum of its window (scanning d, h, w in
// order; a later equal value does not take over). Overlapping windows accumulate.
Array maxpool_backward(const Array& x, const Array& dy, const PoolGeom& g);

// y[n,c,o] = the mean of the window starting at o*stride (sum in double / window volume).
Array avgpool_forward(const Array& x, const PoolGeom& g);
// dx = 0, then each dy[n,c,o] / window volume is added to every voxel of its window.
Array avgpool_backward(const Shape& x, const Array& dy, const PoolGeom& g);

}  // namespace useg::ref
