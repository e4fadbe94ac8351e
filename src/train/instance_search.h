// Choosing an instance model's split settings on its validation cases, as StarDist's
// optimize_thresholds does after training (docs/training.md, "Choosing the postprocessing"):
// each run's best/ model predicts every validation case once (probabilities of background /
// interior / boundary, the model's own mirroring and postprocess steps); then every candidate of
// a grid over fill_holes, seed_split, seed_min_size and min_size splits that foreground into
// objects (split_instances, as useg segment does), which are matched one to one with the
// reference objects at IoU 0.5 (useg eval --instances). The criterion is the pooled F1 over
// every case (TP, FP and FN summed first: StarDist's matching_dataset). The model's own settings
// are the first candidate and stay unless another scores strictly higher. The choice can be
// written into each run's model.json (instances), where useg segment picks it up.
#pragma once

#include <string>
#include <vector>

#include "train/postprocess_search.h"
#include "useg/config.h"
#include "useg/metrics.h"

namespace useg {

struct InstanceCandidate {
  InstanceSettings settings;    // the model's, with the four searched values replaced
  InstanceScores pooled;        // at IoU 0.5, summed over the cases
  std::vector<double> case_f1;  // per case (F1 of an empty reference and prediction is 1)
  int better = 0, worse = 0;    // cases whose F1 is above / below the model's settings'
};

struct InstanceSearch {
  std::vector<std::string> runs;   // run folders
  std::vector<std::string> cases;  // "RUN_NAME/CASE"
  int dims = 2;                    // of the images (sizes in mm^2 for 2, mm^3 for 3)
  double diameter = 0;             // the grid's object diameter d (mm): best/'s instances.diameter
  std::vector<InstanceCandidate> candidates;  // the model's settings first
  size_t chosen = 0;
};

// The grid, relative to the objects' diameter d and their size A (the area of a disc of diameter
// d for dims 2, the volume of a ball for 3): fill_holes on and off; seed_split 0, 0.03 d, 0.06 d,
// 0.1 d; seed_min_size 0, 0.01 A, 0.03 A; min_size 0, 0.03 A, 0.1 A (each value rounded to 3
// significant digits); `current`'s own value added to each axis. `current` first, then the grid
// in that order (fill_holes as current first, each axis ascending).
std::vector<InstanceSettings> instance_candidates(const InstanceSettings& current, double d,
                                                  int dims);

// The distinct splits among `settings`: each with min_size 0, candidates that differ only in
// min_size sharing one; split_of[i] (when given) is the index of settings[i]'s.
std::vector<InstanceSettings> instance_splits(const std::vector<InstanceSettings>& settings,
                                              std::vector<size_t>* split_of = nullptr);

// One case: splits `foreground` (instance_foreground) with every candidate's settings and adds
// the matching of its objects with the reference ids `ref` at IoU 0.5 to the candidate (pooled
// counts, case_f1). Candidates that differ only in min_size share one split made with min_size
// 0; the objects smaller than each min_size (voxels_of_size) are then left out of the matching,
// as split_instances's last step removes them. The splits run on `threads` threads at once (ITK
// on one thread each meanwhile); the scores do not depend on it.
void score_instance_case(const Tensor& foreground, const Tensor& probs, const Tensor& ref,
                         const Geometry& g, std::vector<InstanceCandidate>& cands, int threads = 1);

// Scores every candidate of instance_candidates on the validation cases of `runs`
// (resolve_run_dirs) against the reference ids of the instance dataset `data_dir`. The runs'
// best/ models must be instance models with equal split settings and a recorded
// instances.diameter; errors name the run, model.json or file (a case missing from the dataset,
// a reference of another size than its image).
InstanceSearch find_instance_settings(const std::vector<std::string>& runs,
                                      const std::string& data_dir,
                                      const PostprocessSearchOptions& o);

// {"runs": [...], "cases": [...], "criterion": "pooled F1 at IoU 0.5", "diameter": d,
//  "candidates": [{"fill_holes", "seed_split", "seed_min_size", "min_size", "f1", "precision",
//  "recall", "panoptic_quality", "tp", "fp", "fn", "cases_better", "cases_worse",
//  "case_f1": [...]}], "chosen": {the four settings}}
std::string instance_search_json(const InstanceSearch& s);

// Writes the chosen settings into instances of every run's best/ and last/ model.json (each
// atomically, after all were read and checked); returns the files written.
std::vector<std::string> apply_instance_choice(const InstanceSearch& s);

}  // namespace useg
