// The launch wrappers of the optimizer kernels (kernels.cu); see cuda/launch.h.
#pragma once

#include "cuda/launch.h"
#include "ops/optim/optim.h"

namespace useg::gpu {

void launch_sgd_update(float* param, const float* grad, float* momentum_buf, int64_t n,
                       const ops::SgdCoefs& k, cudaStream_t stream);
void launch_adam_update(float* param, const float* grad, float* m, float* v, int64_t n,
                        const ops::AdamCoefs& k, cudaStream_t stream);

}  // namespace useg::gpu
