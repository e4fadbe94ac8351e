// The launch wrappers of the max- and average-pooling kernels (kernels.cu); see cuda/launch.h.
#pragma once

#include "cuda/launch.h"
#include "ops/pool/pool.h"

namespace useg::gpu {

void launch_maxpool_forward(const float* x, float* y, int64_t planes, const ops::PoolDims& p,
                            cudaStream_t stream);
void launch_maxpool_backward(const float* x, const float* dy, float* dx, int64_t planes,
                             const ops::PoolDims& p, cudaStream_t stream);
// Backend::maxpool_offsets / maxpool_backward_offsets: one byte per output.
void launch_maxpool_offsets(const float* x, uint8_t* offsets, int64_t planes,
                            const ops::PoolDims& p, cudaStream_t stream);
void launch_maxpool_backward_offsets(const uint8_t* offsets, const float* dy, float* dx,
                                     int64_t planes, const ops::PoolDims& p, cudaStream_t stream);
void launch_avgpool_forward(const float* x, float* y, int64_t planes, const ops::PoolDims& p,
                            cudaStream_t stream);
void launch_avgpool_backward(const float* dy, float* dx, int64_t planes, const ops::PoolDims& p,
                             cudaStream_t stream);

}  // namespace useg::gpu
