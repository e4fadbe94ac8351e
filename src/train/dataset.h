// Training datasets in the nnU-Net v2 "raw" layout, read as-is:
//
//   DATASET/dataset.json         {"channel_names": {"0": "CT"}, "labels": {"background": 0,
//                                 "liver": 1}, "numTraining": 123, "file_ending": ".nii.gz"}
//   DATASET/imagesTr/CASE_0000.nii.gz   one file per channel (_0000, _0001, ...)
//   DATASET/labelsTr/CASE.nii.gz        the label map of CASE
//   DATASET/imagesTs/                   optional, ignored by training
//
// scan_dataset() checks everything that can be checked from the file names and image headers
// (no voxel is read) and reports every problem at once, each naming the case; the voxel-level
// checks (label values, non-finite intensities) happen when the trainer loads the cases.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "useg/config.h"
#include "useg/image.h"

namespace useg {


struct DatasetCase {
  std::string name;                 // "CASE"
  std::vector<std::string> images;  // imagesTr/CASE_0000<ending>, ... in channel order
  std::string label;                // labelsTr/CASE<ending>
  Geometry geometry;                // from the first image's header
};

struct Dataset {
  std::string dir;
  DatasetJson meta;
  std::vector<DatasetCase> cases;   // sorted by name
  ReadLimits limits;                // scan_dataset's limits; load_cases reads with them
  const DatasetCase* find(const std::string& name) const;  // null when there is none
  int channels() const { return static_cast<int>(meta.channel_names.size()); }
  // The classes the network learns: dataset.json's labels, or for an instance dataset the three
  // classes background, OBJECT_interior, OBJECT_boundary (values 0, 1, 2).
  int classes() const;
  // Class names by class index (dataset.json's labels sorted by value) and the raw label value
  // of each class. Values that are not 0..K-1 are remapped to class indices by their rank.
  std::vector<std::string> class_names() const;
  std::vector<int> class_values() const;
  bool remapped() const;
};

// Reads dataset.json and lists and checks the cases: missing or orphan label files, channel
// files that are missing or not numbered _0000.._{C-1}, the channel count against channel_names
// (a file may hold several channels, e.g. RGB), image/label size and geometry (spacing, origin,
// direction) mismatches, an empty dataset and numTraining against the cases found (an error, as
// in nnU-Net: the files are probably incomplete). Throws one useg::Error listing every problem.
// Resource guards, before anything is allocated: a dataset.json larger than
// kMaxDatasetJsonBytes is refused unread, and a case whose headers declare more than `limits`
// (voxels, or bytes as float32 over all its channels) is a problem naming the file.
constexpr int64_t kMaxDatasetJsonBytes = int64_t(16) << 20;
Dataset scan_dataset(const std::string& dir, const ReadLimits& limits = {});

}  // namespace useg
