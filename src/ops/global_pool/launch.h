// The launch wrappers of the global-pooling kernels (kernels.cu); see cuda/launch.h.
#pragma once

#include "cuda/launch.h"

namespace useg::gpu {

// y[r] = ops::global_avg_value(totals[r], count); dx[r * count + i] = dy[r] / count.
void launch_global_avg_finish(const double* totals, int64_t rows, int64_t count, float* y,
                              cudaStream_t stream);
void launch_global_avg_backward(const float* dy, int64_t rows, int64_t count, float* dx,
                                cudaStream_t stream);

}  // namespace useg::gpu
