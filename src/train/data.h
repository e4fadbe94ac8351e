// Training data held in memory: every case preprocessed once (the very preprocess() that
// `useg segment` runs), labels as class indices on the same grid, and sampled foreground voxel
// positions per class for the sampler's foreground oversampling.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "useg/config.h"
#include "train/dataset.h"
#include "useg/image.h"
#include "useg/tensor.h"

namespace useg::training {

struct TrainingCase {
  std::string name;
  Tensor image;                        // [1, C, D, H, W] normalized and resampled, CPU
  std::vector<uint8_t> label;          // D*H*W class indices, same grid
  std::array<int64_t, 3> size{1, 1, 1};  // D, H, W
  // class_voxels[k]: flat indices (z*H + y)*W + x of voxels of class k (k >= 1), subsampled to
  // at most kMaxClassVoxels; empty when the class is absent from the case.
  std::vector<std::vector<int64_t>> class_voxels;
  int class_index = -1;                // classification: the image's class (label is empty)
  Tensor label_tensor() const;         // [1, 1, D, H, W] float class indices
};

// Most voxel positions kept per class and case (nnU-Net keeps 10000 as well).
constexpr size_t kMaxClassVoxels = 10000;

// Class index of every raw label value: -1 for undeclared values. Values of dataset.json must
// fit 0..65535.
std::vector<int> label_lookup(const Dataset& ds);

// Maps a raw label volume to class indices in place (values as floats). Returns a message naming
// `case_name` and listing the undeclared or non-integer values ("" when all are declared).
std::string map_labels(Tensor& raw, const std::vector<int>& lookup, const Dataset& ds,
                       const std::string& case_name);

// An instance dataset's label volume holds object ids: returns a message naming `case_name`
// and the first voxel that is not a non-negative integer below 2^24 ("" when all are).
std::string check_instance_ids(const Tensor& raw, const std::string& case_name);

// --------------------------------------------------------------------------- planning
// Turns the config's choices (train.target_spacing[_mm], train.normalization) and dataset
// statistics into model.json: architecture, patch size, labels, preprocessing. Reads the voxels
// of every case only when a channel uses the CT scheme (foreground intensity statistics).
// `log` receives one line per decision.
ModelInfo plan_model_info(const RunConfig& run, const Dataset& ds, uint64_t seed,
                          const std::function<void(const std::string&)>& log);

// The scheme "auto" picks for a channel name: CT -> ct, noNorm -> none, anything else -> zscore.
IntensityScheme auto_scheme(const std::string& channel_name);

// Median spacing per axis over the cases, in the model's axis order ([D, H, W] or [H, W]).
std::vector<double> median_spacing(const Dataset& ds, int dims);

// The median of object_diameters (useg/metrics.h) over every case of an instance dataset (the mean of the two
// middle values for an even count; 0 when there is no object).
double median_object_diameter(const Dataset& ds);

// ---------------------------------------------------------------------------- loading
// Reads, checks and preprocesses the cases named in `names`, in that order. Collects every
// label problem (undeclared values, non-finite intensities) and throws them together.
std::vector<TrainingCase> load_cases(const Dataset& ds, const ModelInfo& info,
                                     const std::vector<std::string>& names, uint64_t seed,
                                     const std::function<void(int64_t, int64_t)>& progress);

}  // namespace useg::training
