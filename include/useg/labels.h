// Label-map operations for postprocessing and measurement, implemented with ITK filters in
// src/imaging (no ITK header leaks out of here).
//
// Label maps are CPU tensors [1, 1, D, H, W] holding class indices as floats (0 = background),
// laid out on a Geometry (useg/image.h conventions). Connected components use face
// connectivity (6 neighbours in 3D, 4 in 2D) and are found class by class: two touching objects
// of different classes are different components.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "useg/config.h"
#include "useg/image.h"
#include "useg/tensor.h"

namespace useg {

// Caps the threads ITK filters use (0 leaves ITK's default, the number of cores).
void set_imaging_threads(int threads);
// ITK's global default number of threads (what set_imaging_threads last set).
int imaging_threads();

// For every foreground class, or only those in `classes` when it is not empty: keeps only its
// largest connected component (ties: the one whose first voxel comes first in memory order);
// the rest becomes background (0).
void keep_largest_component(Tensor& labels, const Geometry& g, int num_classes,
                            const std::vector<int>& classes = {});

// For every foreground class: components with fewer than `min_voxels` voxels become background.
void remove_small_components(Tensor& labels, const Geometry& g, int num_classes,
                             double min_voxels);

// For every foreground class: background voxels (0) in holes of that class — regions not of the
// class that do not touch the image border (in 3D: cavities; 2D: holes in the plane) — take the
// class. Voxels of other foreground classes are never overwritten.
void fill_holes(Tensor& labels, const Geometry& g, int num_classes);

// Instance labels [1, 1, D, H, W] (floats 0 .. count): the connected components of every
// foreground class, numbered class by class (class 1 first) and within a class by decreasing
// voxel count (ties in memory order of their first voxel). `instance_class[i - 1]` receives the
// class of instance i.
Tensor label_instances(const Tensor& labels, const Geometry& g, int num_classes,
                       std::vector<int>* instance_class);

// ------------------------------------------------------------------ instance target and split
// (src/imaging/instance_target.cpp, instance_split.cpp; docs/training.md "Instance datasets",
// docs/segment.md "Instance models")

// Radius in voxels along x, y, z of the boundary ellipsoid for `boundary_width` on `g`:
// max(1, round(boundary_width x finest spacing / spacing of the axis)); z is 0 for 2D.
std::array<int, 3> boundary_radius(const Geometry& g, int boundary_width);

// The three-class training target of an instance image `ids` [1, 1, D, H, W] (0 background,
// every other integer value one object): 0 background, 1 interior, 2 boundary. A voxel of an
// object is boundary when a voxel with another value (another object or background) lies in the
// ellipsoid of boundary_radius() around it (ITK's FlatStructuringElement::Ball with parametric
// radii: offsets d with sum (d_a / r_a)^2 <= 1); voxels outside the image do not count, so an
// object cut by the image border has no boundary along it.
Tensor instance_boundary_target(const Tensor& ids, const Geometry& g, int boundary_width);

// The voxel count of a physical size (mm^2 on a 2D grid, mm^3 on a 3D one) on `g`: the fewest
// voxels whose size reaches it; 0 for size <= 0. seed_min_size and min_size are counted so: an
// object of fewer voxels is smaller.
uint64_t voxels_of_size(double size, const Geometry& g);

// Splits the foreground of an instance model into objects. `foreground` [1, 1, D, H, W] is the
// object mask (any value > 0), `probabilities` [1, 3, D, H, W] the network's background /
// interior / boundary probabilities on the same grid `g`. Steps (ITK filters):
//  1. fill_holes: background enclosed by the foreground (face-connected background components
//     that do not touch the image border) joins it;
//  2. seeds: face-connected components of the voxels whose most probable class is interior,
//     without those smaller than seed_min_size (mm^2 / mm^3); a foreground component holding
//     no seed is a seed of its own;
//  3. a seeded watershed (MorphologicalWatershedFromMarkersImageFilter, face connectivity) on
//     1 - P(interior) in 255 levels over the foreground, with the background walled off, so
//     that every foreground voxel joins the seed it reaches over the lowest crest within the
//     foreground;
//  4. objects smaller than min_size are removed.
// Returns instance ids (floats 1..n, numbered by decreasing size, ties in raster order of
// the seeds).
Tensor split_instances(const Tensor& foreground, const Tensor& probabilities, const Geometry& g,
                       const InstanceSettings& settings);

// One object of an instance image, measured with ITK's LabelImageToShapeLabelMapFilter (shape)
// and LabelStatisticsImageFilter (intensities).
struct ObjectMeasure {
  int64_t label = 0;                  // instance id
  int cls = 0;                        // class index
  int64_t voxels = 0;
  double physical_size = 0;           // mm^3 (3D) or mm^2 (2D)
  std::array<double, 3> centroid{};   // physical (x, y, z) mm; z = 0 for 2D
  std::array<int64_t, 3> bbox_min{};  // index (x, y, z), inclusive
  std::array<int64_t, 3> bbox_max{};  // index (x, y, z), inclusive
  double mean = 0, min = 0, max = 0;  // intensity of the first channel of `intensity`
  double elongation = 0;              // ITK: sqrt(largest / second largest principal moment)
  double roundness = 0;               // ITK: equivalent-sphere perimeter / perimeter
};

// Measures every instance 1..instance_class.size() of `instances` (ids without voxels are
// skipped). `intensity` is [1, C, D, H, W] on the same grid; its first channel is used.
std::vector<ObjectMeasure> measure_objects(const Tensor& instances,
                                           const std::vector<int>& instance_class,
                                           const Geometry& g, const Tensor& intensity);

}  // namespace useg
