// `useg plan`: a dataset's fingerprint and ready training configs, after nnU-Net v2's experiment
// planner (docs/training.md, "Planning").
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "useg/config.h"

namespace useg {

struct ChannelFingerprint {
  std::string name;
  int64_t samples = 0;  // foreground voxels drawn (10 000 per case, with replacement)
  double mean = 0, std = 0, min = 0, max = 0, median = 0, percentile_00_5 = 0, percentile_99_5 = 0;
};

// What planning needs to know about a dataset, at native resolution (no cropping).
struct DatasetFingerprint {
  std::string dataset;
  int dims = 3;                                  // 2 when every case is a 2D image
  std::vector<std::string> cases;
  std::vector<std::array<double, 3>> spacings;   // per case, [D, H, W] mm (D = 1 for 2D)
  std::vector<std::array<int64_t, 3>> shapes;    // per case, [D, H, W] voxels
  std::vector<ChannelFingerprint> channels;      // foreground intensity statistics
  int classes = 2;                               // the network's classes (3 for instances)
  std::vector<std::string> class_names;          // dataset.json's labels, by value
  std::vector<double> class_fractions;           // voxels of each class / all voxels
};

// Reads every case (images and labels) of the dataset folder. `progress(done, total)` per case.
DatasetFingerprint fingerprint_dataset(const std::string& dir, uint64_t seed = 1234,
                                       const std::function<void(int64_t, int64_t)>& progress = {});

// nnU-Net's full-resolution target spacing: the median spacing per axis, except that when the
// coarsest axis is more than 3 times coarser than the others and its median size is less than
// a third of theirs, that axis takes the 10th percentile of its spacings (at least the other
// axes' largest spacing).
std::array<double, 3> plan_target_spacing(const DatasetFingerprint& fp);

// nnU-Net's get_pool_and_conv_props for `spacing` and `patch` (one entry per axis, 2 or 3):
// pool along the axes whose size is at least 2 x min_feature (4) and whose spacing is within a
// factor 2 of the finest; a conv kernel is 3 along an axis once its spacing is within a factor
// 2 of the finest (1 before); the last stage has 3 everywhere; at most `max_pools` per axis.
// The patch is rounded up to a multiple of the pooling products.
struct PoolPlan {
  std::vector<std::array<int, 3>> pool_sizes;    // depth entries, [D, H, W] (D = 1 in 2D)
  std::vector<std::array<int, 3>> kernel_sizes;  // depth + 1 entries
  std::vector<int> patch;                        // per axis, divisible by the pooling products
  std::vector<int> divisor;                      // per axis: product of the pool sizes
};
PoolPlan plan_pooling(const std::vector<double>& spacing, const std::vector<int>& patch,
                      int min_feature = 4, int max_pools = 7);

struct PlannedConfiguration {
  std::string name;                 // "3d_fullres" | "2d"
  RunConfig run;                    // a ready `useg train --config`
  std::vector<double> median_shape; // at the target spacing, per axis
  int64_t step_bytes = 0;           // training_step_memory at the planned patch and batch
};
// The share of the memory budget the planner keeps free: training_step_memory counts the step's
// tensors, and on the CPU it measured 7-15% below the step's real growth of peak RSS (oneDNN's
// blocked copies and scratchpads; scripts/check_memory_model.sh, docs/training.md). The plan's
// step must fit (1 - kPlanMemoryReserve) x the budget.
constexpr double kPlanMemoryReserve = 0.15;
struct DatasetPlan {
  DatasetFingerprint fingerprint;
  std::array<double, 3> target_spacing{1, 1, 1};
  int64_t memory_budget = 0;
  std::vector<PlannedConfiguration> configurations;  // 3d_fullres (3D data) then 2d
};
// The patch starts from 256^3 (3D) or 2048^2 (2D) voxels shaped by the spacing, clipped to the
// median shape; it shrinks along its largest axis relative to the median shape until a
// training step of batch 2 (training_step_memory) fits `memory_budget` less kPlanMemoryReserve;
// the batch is then the most that fits there, at least 2 and at most what covers 5% of the dataset's voxels.
DatasetPlan plan_dataset(const DatasetFingerprint& fp, int64_t memory_budget);

// {"fingerprint": {...}, "target_spacing": [...], "memory_budget": N,
//  "configurations": {"3d_fullres": {"median_shape", "step_bytes", "config": {run config}}, ...}}
std::string to_json_string(const DatasetPlan& plan);

}  // namespace useg
