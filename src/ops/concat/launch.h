// The launch wrappers of the concat/split kernels (kernels.cu); see cuda/launch.h.
#pragma once

#include "cuda/launch.h"

namespace useg::gpu {

// y [N, Ca+Cb, S] = [a [N, Ca, S], b [N, Cb, S]] and its inverse.
void launch_concat_channels(const float* a, const float* b, float* y, int64_t n, int64_t ca,
                            int64_t cb, int64_t spatial, cudaStream_t stream);
void launch_split_channels(const float* y, float* a, float* b, int64_t n, int64_t ca, int64_t cb,
                           int64_t spatial, cudaStream_t stream);

}  // namespace useg::gpu
