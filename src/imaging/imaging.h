// Image filters on our Image / Tensor types, implemented with ITK in src/imaging (no ITK header
// leaks out of here). Geometry conventions are those of useg/image.h.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "useg/image.h"
#include "useg/tensor.h"

namespace useg {

enum class Interp { Linear, Nearest };
const char* interp_name(Interp interp);  // "linear" | "nearest"

// The grid with `spacing` (x, y, z mm; z ignored for 2D geometries) that keeps the origin and
// direction of `g` and covers the same physical extent: new size per axis =
// max(1, round(old_size * old_spacing / new_spacing)). Throws for a spacing that is not
// positive or a size past 9e15.
Geometry spacing_grid(const Geometry& g, const std::array<double, 3>& spacing);

// The grid of exactly `size` (x, y, z voxels; z ignored for 2D geometries) over the same physical
// extent as `g` (its outer voxel edges), with g's direction: the spacing becomes
// extent / size and the origin moves so that the extents coincide (a resize of the picture).
Geometry size_grid(const Geometry& g, const std::array<int64_t, 3>& size);

// Resamples every channel onto spacing_grid(image.geometry, spacing). Points past the last input
// voxel centre take the nearest edge value. Linear for intensities, Nearest for label maps.
Image resample_to_spacing(const Image& image, const std::array<double, 3>& spacing,
                          Interp interp);

// Maps `channels` [1, C, D, H, W] laid out on geometry `from` onto geometry `to` (identity
// transform in physical space, per channel). Returns [1, C, to.size z, to.size y, to.size x].
// Typical use: probabilities or labels computed on a resampled grid brought back onto the
// original image grid. Points of `to` outside `from` take the nearest edge value.
Tensor resample_to_geometry(const Tensor& channels, const Geometry& from, const Geometry& to,
                            Interp interp);

// Euclidean distance in mm (spacing-aware; the direction does not matter) from the centre of every
// voxel to the centre of the nearest non-zero voxel of `mask` (uint8, x fastest on g.size; 0 on
// the mask itself), through ITK's SignedMaurerDistanceMapImageFilter. An all-zero mask gives
// +infinity everywhere. Used by the surface distances of `useg eval` (useg/metrics.h).
std::vector<float> distance_to_mask(const uint8_t* mask, const Geometry& g);

}  // namespace useg
