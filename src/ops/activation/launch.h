// The launch wrappers of the activation kernels (kernels.cu); see cuda/launch.h.
#pragma once

#include "cuda/launch.h"

namespace useg::gpu {

// kind is an ops::ActKind.
void launch_activation_forward(int kind, float alpha, const float* x, float* y, int64_t n,
                               cudaStream_t stream);
void launch_activation_backward(int kind, float alpha, const float* x, const float* y,
                                const float* dy, float* dx, int64_t n, cudaStream_t stream);
// Backend::activation_sign_bits / activation_backward_bits (kind: ReLU or LeakyReLU).
void launch_activation_sign_bits(const float* t, uint32_t* bits, int64_t n, cudaStream_t stream);
void launch_activation_backward_bits(int kind, float alpha, const uint32_t* bits, const float* dy,
                                     float* dx, int64_t n, cudaStream_t stream);

}  // namespace useg::gpu
