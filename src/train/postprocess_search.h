// Choosing a model's postprocessing on its validation cases, as nnU-Net's
// find_best_configuration does after a cross-validation (docs/training.md, "Choosing the
// postprocessing"): the labels of each run's final validation (RUN/validation/, when best/ made
// them; final_validation.h), or else its best/ model segments the cases it was validated on (with
// the model's own test-time mirroring, no postprocessing); then every candidate step list is
// applied to those labels and scored by the mean foreground Dice against the references. A
// candidate replaces "none" only when it scores strictly higher; the choice can be written into
// each run's model.json (inference.postprocess), where `useg segment` picks it up. As nnU-Net
// decides the largest component class by class, "largest=S" (S: the classes whose Dice `largest`
// raises) is tried too when S is some but not all of the foreground classes; with several
// foreground classes, nnU-Net's first candidate as well: the largest component of the foreground as
// a whole
// ("largest-foreground").
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "useg/backend.h"
#include "useg/image.h"
#include "useg/model.h"

namespace useg {

struct PostprocessCandidate {
  std::vector<std::string> steps;  // in --postprocess syntax; empty = none
  std::vector<double> class_dice;  // per foreground class (index k - 1): mean over the cases
  double mean_fg_dice = 0;         // mean of class_dice
  std::vector<double> case_fg_dice;  // per case: the mean of its foreground classes' Dice
  int better = 0, worse = 0;         // cases whose case_fg_dice is above / below none's
};

struct PostprocessSearch {
  std::vector<std::string> runs;         // run folders (checkpoint.safetensors, best/)
  std::vector<std::string> cases;        // "RUN_NAME/CASE", every validation case scored
  std::vector<std::string> class_names;  // background first
  std::vector<PostprocessCandidate> candidates;  // "none" first
  size_t chosen = 0;                             // index into candidates
};

struct PostprocessSearchOptions {
  Device device = Device::CPU;
  BackendOptions backend;
  std::function<void(const std::string&)> log;
};

// The candidates tried first, in order: none, largest, fill-holes, largest + fill-holes.
std::vector<std::vector<std::string>> postprocess_candidates();

// A scored case: the predicted and reference class indices (one byte a voxel) on `geometry`.
struct ScoredCase {
  std::string name;
  Geometry geometry;
  std::vector<uint8_t> pred, ref;
};

// Scores the candidates on `cases` (class_names: background first, at most 255 classes) and
// chooses; runs and cases of the result are left for the caller.
PostprocessSearch score_postprocess(const std::vector<ScoredCase>& cases,
                                    const std::vector<std::string>& class_names);

// Run folders from what the user named: a run folder (it holds checkpoint.safetensors) stands for
// itself; a folder without one stands for its fold_K run folders (in fold order). Throws naming
// the folder when neither.
std::vector<std::string> resolve_run_dirs(const std::vector<std::string>& given);

// A run as the searches use it: its validation cases (the case lists its checkpoint keeps) and
// its best/ model. open_validation_run throws naming the run when it has no validation cases or
// no best/, or naming best/ when that is a classifier.
struct ValidationRun {
  std::string dir, name;           // the run folder and its last component ("fold_0")
  std::vector<std::string> cases;  // validation case names
  LoadedModel best;
};
ValidationRun open_validation_run(const std::string& run, Backend& backend);

// Scores every candidate on the validation cases of `runs` (resolve_run_dirs) against the
// references of the nnU-Net-layout dataset `data_dir`. Errors name the run or file: a run without
// validation cases or best/, a classifier or instance run, a case missing from the dataset, labels
// that differ between the model and dataset.json, a reference value dataset.json does not list
// (the trainer's check, training::map_labels).
PostprocessSearch find_postprocess(const std::vector<std::string>& runs, const std::string& data_dir,
                                   const PostprocessSearchOptions& o);

// {"runs": [...], "cases": [...], "classes": [...], "candidates": [{"steps": [...],
// "mean_fg_dice": x, "class_dice": {"name": x}, "cases_better": n, "cases_worse": n,
// "case_fg_dice": [x per case]}], "chosen": [...]}
std::string postprocess_search_json(const PostprocessSearch& s);

// Changes every run's best/ and last/ model.json by `change`: all are read (and so checked)
// before any is written, each atomically. Returns the files written.
std::vector<std::string> update_run_models(const std::vector<std::string>& runs,
                                           const std::function<void(ModelInfo&)>& change);

// Writes the chosen steps into inference.postprocess of every run's best/ and last/ model.json
// (each atomically, after all were read and checked); returns the files written.
std::vector<std::string> apply_postprocess_choice(const PostprocessSearch& s);

}  // namespace useg
