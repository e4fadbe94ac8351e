// Small checks on images that callers apply as policy (the readers do not): non-finite voxels,
// and a readable description of how two geometries differ.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "useg/image.h"

namespace useg {

// True when any voxel is NaN or +-Inf. Reading such a file is not an error; the caller decides.
bool has_non_finite(const Image& image);

// NaN and +-Inf voxels of each channel.
std::vector<int64_t> count_non_finite(const Image& image);

// `useg segment`'s rule for non-finite voxels (docs/segment.md): every NaN and +-Inf voxel of a
// channel becomes that channel's minimum finite value (0 when the channel has none), before
// normalization. Returns how many voxels were replaced.
int64_t replace_non_finite(Image& image);

// "" when a.same_as(b, tol); otherwise what differs, e.g. "size 10x10x5 vs 10x10x6; origin
// (0, 0, 0) vs (1, 0, 0)".
std::string geometry_difference(const Geometry& a, const Geometry& b, double tol = 1e-5);

}  // namespace useg
