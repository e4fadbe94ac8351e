// Global average pooling, y[n, c] = the mean of channel c of sample n over its D*H*W values,
// and its gradient: every position of the channel receives dy[n, c] / (D*H*W). The sum is taken
// in double by the caller (the CPU loop, or the CUDA row reduction) in a fixed order.
#pragma once

#include <cstdint>

#include "ops/hd.h"

namespace useg::ops {

USEG_HD float global_avg_value(double sum, int64_t count) {
  return static_cast<float>(sum / static_cast<double>(count));
}

USEG_HD float global_avg_grad(float dy, int64_t count) {
  return dy / static_cast<float>(count);
}

}  // namespace useg::ops
