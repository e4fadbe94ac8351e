// The launch wrapper of the dropout kernel (kernels.cu); see cuda/launch.h.
#pragma once

#include "cuda/launch.h"

namespace useg::gpu {

void launch_dropout(const float* x, float p, uint64_t seed, float* y, float* mask, int64_t n,
                    cudaStream_t stream);

}  // namespace useg::gpu
