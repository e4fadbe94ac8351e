// The launch wrapper of the softmax kernel (kernels.cu); see cuda/launch.h.
#pragma once

#include "cuda/launch.h"

namespace useg::gpu {

void launch_softmax_channels(const float* x, float* y, int64_t n, int64_t c, int64_t spatial,
                             cudaStream_t stream);

}  // namespace useg::gpu
