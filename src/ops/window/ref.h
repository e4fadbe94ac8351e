// Naive references of the sliding-window ops (ref.cpp).
#pragma once

#include <array>

#include "ops/ref_util.h"

namespace useg::ref {

// Adds window n of probs into accum / weight_sum, skipping voxels outside the volume.
void window_accumulate(const Vec& probs, const Shape& ps, int64_t n, const Vec& weight,
                       const std::array<int64_t, 3>& offset, Vec& accum, const Shape& as,
                       Vec& weight_sum);
Vec argmax_channels(const Vec& x, const Shape& s);  // [N, 1, D, H, W], first max on ties
// x reversed along the spatial axes whose bit is set (1 = W, 2 = H, 4 = D).
Vec flip_spatial(const Vec& x, const Shape& s, int axes);

}  // namespace useg::ref
