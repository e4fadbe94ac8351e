// The launch wrappers of the sliding-window kernels (kernels.cu); see cuda/launch.h.
#pragma once

#include "cuda/launch.h"

namespace useg::gpu {

// One window of probs added into the volume: window voxels [begin, end) per axis (already
// clipped with ops::window_clip), placed at `offset`.
struct WindowRegion {
  int64_t begin[3], end[3], offset[3];
  int64_t patch[3];   // window D, H, W
  int64_t volume[3];  // accumulator D, H, W
  int channels;
};
void launch_window_accumulate(const float* probs, const float* weight, const WindowRegion& r,
                              float* accum, float* weight_sum, cudaStream_t stream);
void launch_argmax_channels(const float* x, float* labels, int64_t n, int64_t c, int64_t spatial,
                            cudaStream_t stream);
void launch_flip_spatial(const float* x, float* y, int64_t numel, int64_t d, int64_t h,
                         int64_t w, int axes, cudaStream_t stream);

}  // namespace useg::gpu
