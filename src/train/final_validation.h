// The final validation of a run, nnU-Net's fold_K/validation/: when a run has finished, its best/
// model segments every validation case as `useg segment` would — the model's own test-time
// mirroring, no postprocessing — and the result is kept:
//
//   RUN/validation/CASE<file_ending>   the labels on the case's grid, with dataset.json's label
//                                      values (an instance dataset: the object ids)
//   RUN/validation/summary.json        `useg eval`'s JSON report of those files against labelsTr
//                                      (per case and label: Dice, IoU, distances...; instance
//                                      datasets: the object matching), plus "model": the
//                                      folder, the epoch its weights are from, the mirroring
//
// so that `useg eval --pred RUN/validation --ref DATASET/labelsTr --labels ...` gives the same
// figures, and `useg find-postprocess` scores its candidates on these labels instead of
// segmenting the cases again. A classifier's best/ classifies its validation images instead
// (predictions.csv and `useg eval --classification`'s summary). summary.json is written last,
// atomically: a folder without it is incomplete (a run stopped during it), and `useg train
// --resume RUN` does it again.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "train/class_data.h"
#include "train/dataset.h"
#include "useg/backend.h"
#include "useg/config.h"
#include "useg/eval.h"

namespace useg {

struct FinalValidationOptions {
  std::function<void(const std::string&)> log;
  std::function<bool()> stop;  // asked between cases: true stops (no summary is written)
  int tty = 0;                 // Progress's
  bool probabilities =
      false;  // also RUN/validation/CASE_prob_K<ending> (train.final_validation_probabilities)
};

struct FinalValidationResult {
  bool completed = false;  // false: stopped before the last case
  size_t cases = 0;        // segmented (classified)
  double score = 0;  // mean foreground Dice (instance datasets: mean F1 at IoU 0.5; accuracy)
};

// The score of a validation report: the mean over the labels of their mean Dice over the cases
// (the mean foreground Dice), or for instance reports the mean over the cases of the F1 at the
// first IoU threshold.
double validation_score(const EvalReport& r);

// RUN/validation and RUN/validation/summary.json.
std::string validation_dir(const std::string& run_dir);
std::string validation_summary(const std::string& run_dir);

// Segments `val_cases` (names in ds) with RUN/best on `backend` into RUN/validation/ (emptied
// first), scores them and writes summary.json. Throws naming the file on any failure.
FinalValidationResult run_final_validation(const std::string& run_dir, const Dataset& ds,
                                           const std::vector<std::string>& val_cases,
                                           Backend& backend, const FinalValidationOptions& o);

// A classifier's: RUN/best classifies the validation images (`val_items`, names in `data`) into
// RUN/validation/predictions.csv (useg classify's CSV, absolute image paths) and summary.json
// (`useg eval --classification`'s JSON of it, plus "model"); the score is the accuracy.
FinalValidationResult run_final_classification(const std::string& run_dir,
                                               const training::ClassDataset& data,
                                               const std::vector<std::string>& val_items,
                                               Device device, const BackendOptions& backend,
                                               const FinalValidationOptions& o);

// "" when RUN/validation/summary.json exists and was made by the model `best` (RUN/best's
// model.json as it is now: the epoch of its weights and its mirroring); otherwise why not, for a
// log line ("RUN/validation/summary.json is absent").
std::string stale_validation(const std::string& run_dir, const ModelInfo& best);

}  // namespace useg
