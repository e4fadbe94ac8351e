// Classification datasets, read as users keep them:
//   DIR/<class>/<image files>   one sub-folder per class (any image format useg reads; hidden
//                               files skipped); the classes are the folder names
//   FILE.csv                    header `image,label`, one row per image, paths relative to the
//                               CSV's folder; the classes are the label values
// Classes are sorted by name (numerically when every name is an integer), unless the config
// lists them (train.classes): then that order, and a label outside it is an error.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "train/data.h"
#include "useg/config.h"
#include "useg/image.h"

namespace useg::training {

struct ClassItem {
  std::string name;  // unique: the path relative to the dataset (folder) or the CSV row's path
  std::string path;  // the file
  int label = 0;     // class index
};

struct ClassDataset {
  std::string source;                // the folder or the CSV file
  std::vector<std::string> classes;  // by class index
  std::vector<ClassItem> items;      // sorted by name
  const ClassItem* find(const std::string& name) const;  // null when there is none
};

// Lists and checks everything that needs no voxel: every class folder holds an image, every CSV
// row names an existing file and a known label, no image twice. Throws one useg::Error listing
// every problem, each naming the file (and the CSV line).
ClassDataset scan_class_dataset(const std::string& path, const std::vector<std::string>& classes);

// Reads, checks (channels, dimensionality, finite voxels) and preprocesses the named items in
// that order: each channel normalized as info.preprocess says, then resized (linear) to the
// model's input size (info.patch_size, [H, W] or [D, H, W]). Each becomes a TrainingCase with
// class_index set. Collects every problem and throws them together.
std::vector<TrainingCase> load_class_items(const ClassDataset& ds, const ModelInfo& info,
                                           const std::vector<std::string>& names,
                                           const std::function<void(int64_t, int64_t)>& progress);

}  // namespace useg::training
