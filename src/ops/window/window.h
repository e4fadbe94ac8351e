// Sliding-window inference: adding one window's weighted probabilities into the whole-volume
// accumulators, and the per-voxel argmax that turns probabilities into labels.
#pragma once

#include <cmath>
#include <cstdint>

#include "ops/hd.h"

namespace useg::ops {

// Along one axis, a window of `patch` voxels placed at `offset` (may be negative or overhang)
// covers window coordinates [*begin, *end) inside a volume of `size` voxels. Empty when
// *begin >= *end.
USEG_HD void window_clip(int64_t offset, int64_t patch, int64_t size, int64_t* begin,
                         int64_t* end) {
  *begin = offset < 0 ? -offset : 0;
  const int64_t inside = size - offset;  // window coordinates below this are in the volume
  *end = patch < inside ? patch : inside;
}

// One window voxel: accum[c] += w * probs[c] for every channel, and weight_sum += w.
// Each window voxel maps to a distinct volume voxel, so one thread per voxel needs no atomics.
USEG_HD void window_accumulate_voxel(const float* probs, int64_t probs_stride, int channels,
                                     float w, float* accum, int64_t accum_stride,
                                     float* weight_sum) {
  for (int c = 0; c < channels; ++c) accum[c * accum_stride] += w * probs[c * probs_stride];
  *weight_sum += w;
}

// Index of the largest channel, the first one on ties (NaN never wins after channel 0).
USEG_HD int argmax_voxel(const float* x, int channels, int64_t stride) {
  int best = 0;
  float best_v = x[0];
  for (int c = 1; c < channels; ++c) {
    const float v = x[c * stride];
    if (v > best_v) {
      best_v = v;
      best = c;
    }
  }
  return best;
}

}  // namespace useg::ops
