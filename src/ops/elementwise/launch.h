// The launch wrappers of the elementwise kernels (kernels.cu); see cuda/launch.h.
#pragma once

#include "cuda/launch.h"

namespace useg::gpu {

void launch_fill(float* y, int64_t n, float value, cudaStream_t stream);
void launch_add(const float* a, const float* b, float* y, int64_t n, cudaStream_t stream);
void launch_mul(const float* a, const float* b, float* y, int64_t n, cudaStream_t stream);
void launch_axpy(float alpha, const float* x, float* y, int64_t n, cudaStream_t stream);
void launch_scale(float* x, float s, int64_t n, cudaStream_t stream);
// *flag (zeroed by the caller) becomes 1 when some element is NaN or infinite.
void launch_find_nonfinite(const float* x, int64_t n, unsigned* flag, cudaStream_t stream);
// One row of n elements: sum of ops::square_element, partials per chunk (cuda/launch.h).
void launch_sum_squares(const float* x, int64_t n, double* partials, cudaStream_t stream);

}  // namespace useg::gpu
