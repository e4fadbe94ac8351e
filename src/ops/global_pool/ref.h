// Naive reference of global average pooling, independent of ops/global_pool/global_pool.h.
#pragma once

#include "ops/ref_util.h"

namespace useg::ref {

// y[n,c] = (1 / S) * sum of x[n,c,...] over the S = D*H*W positions; dx[n,c,...] = dy[n,c] / S.
Array global_avg_pool_forward(const Array& x);
Array global_avg_pool_backward(const Array& dy, const Shape& x_shape);

}  // namespace useg::ref
