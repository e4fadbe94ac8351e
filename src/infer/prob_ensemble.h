// `useg ensemble`: the probability files of several `useg segment --save-probabilities` runs
// averaged case by case into labels, as nnU-Net's nnUNetv2_ensemble does with its .npz files:
// for configurations segmented apart (`useg segment --model A --model B` averages them in one
// run; docs/segment.md, "Ensembles of separate runs").
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "useg/image.h"
#include "useg/segment.h"

namespace useg {

// A case found in the first input folder: NAME_prob_0EXT .. NAME_prob_{K-1}EXT, the same names in
// every folder.
struct ProbabilityCase {
  std::string name, ext;                        // ext: ".nii.gz", ".nrrd", ...
  int classes = 0;                              // K
  std::vector<std::vector<std::string>> files;  // [input folder][class]
};

// The cases of `dirs` (sorted by name). Throws naming the folder or file: a folder without
// probability files, a case whose files another folder lacks (or holds for another number of
// classes), fewer than two folders.
std::vector<ProbabilityCase> find_probability_cases(const std::vector<std::string>& dirs);

// The mean over the runs of `files` [run][class] (one float image per class, every file on one
// grid): [1, K, D, H, W], and that grid in `g`. Throws naming the file with more than one channel
// or on another grid than the first.
Tensor mean_probability_files(const std::vector<std::vector<std::string>>& files, Geometry& g,
                              const ReadLimits& limits = {});

struct ProbabilityEnsembleOptions {
  std::vector<std::string> inputs;  // segment output folders (--save-probabilities)
  std::string output;               // folder: NAME<ext> labels (class indices)
  // A model folder whose settings act on the average as segment's would (postprocessing from
  // its inference section unless `postprocess` is given; an instance model's split, which adds
  // NAME_instances<ext>). "": none, the most probable class only.
  std::string model;
  std::optional<std::vector<PostprocessStep>> postprocess;  // unset: the model's, or none
  bool save_probabilities = false;  // also NAME_prob_K<ext>: the averaged probabilities
  std::function<void(const std::string&)> log;
};

// Averages every case's probabilities over the folders and finishes them as segment does
// (segment_probabilities): the most probable class (the lowest index on ties), the
// postprocessing, or with an instance --model the split into objects. Writes the labels (and
// the instances) on the files' grid. Throws naming the files when their grids differ, or the
// model when its classes are not the files'. Returns the cases written.
int ensemble_probability_files(const ProbabilityEnsembleOptions& o);

}  // namespace useg
