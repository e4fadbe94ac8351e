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

#include "useg/image.h"
#include "useg/tensor.h"

namespace useg {

// Caps the threads ITK filters use (0 leaves ITK's default, the number of cores).
void set_imaging_threads(int threads);

// For every foreground class: keeps only its largest connected component (ties: the one whose
// first voxel comes first in memory order); the rest becomes background (0).
void keep_largest_component(Tensor& labels, const Geometry& g, int num_classes);

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
