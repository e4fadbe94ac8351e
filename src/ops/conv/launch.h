// The launch wrapper of the convolution bias kernel (kernels.cu); see cuda/launch.h. The
// convolutions themselves are cuDNN's (cuda/cudnn_conv.cpp).
#pragma once

#include "cuda/launch.h"

namespace useg::gpu {

// y [N, C, S] += bias[c] (convolution and transposed-convolution bias).
void launch_bias_add(float* y, const float* bias, int64_t n, int64_t c, int64_t spatial,
                     cudaStream_t stream);

}  // namespace useg::gpu
