// The launch wrappers of the mixed-precision casts (kernels.cu); see cuda/launch.h. No op of the
// table: the fp16/bf16 convolutions (src/ops/conv/cuda.cpp) call them around cuDNN.
#pragma once

#include "cuda/launch.h"

namespace useg::gpu {

// float32 <-> IEEE half / bfloat16 (round to nearest even), n elements.
void launch_float_to_half(const float* x, void* y, int64_t n, cudaStream_t stream);
void launch_half_to_float(const void* x, float* y, int64_t n, cudaStream_t stream);
void launch_float_to_bf16(const float* x, void* y, int64_t n, cudaStream_t stream);
void launch_bf16_to_float(const void* x, float* y, int64_t n, cudaStream_t stream);
// The casts the convolutions use: the same rounding, and NCDHW <-> NDHWC in the same pass. x / y
// are viewed as [n, c, spatial] float32 and [n, spatial, c] half / bfloat16 (an activation
// [N, C, D, H, W] <-> [N, D, H, W, C]; a filter [K, C, kD, kH, kW] <-> [K, kD, kH, kW, C]).
void launch_float_to_half_ndhwc(const float* x, void* y, int64_t n, int64_t c, int64_t spatial,
                                cudaStream_t stream);
void launch_half_ndhwc_to_float(const void* x, float* y, int64_t n, int64_t c, int64_t spatial,
                                cudaStream_t stream);
void launch_float_to_bf16_ndhwc(const float* x, void* y, int64_t n, int64_t c, int64_t spatial,
                                cudaStream_t stream);
void launch_bf16_ndhwc_to_float(const void* x, float* y, int64_t n, int64_t c, int64_t spatial,
                                cudaStream_t stream);

}  // namespace useg::gpu
