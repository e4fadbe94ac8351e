// The cross-validation's result, nnU-Net's crossval_results_folds_*/summary.json: the final
// validations of a cross-validation's folds (RUN/validation/, final_validation.h) scored
// together against the dataset's labelsTr, as if one model had predicted every case, and, with
// several cross-validations (configurations: another config, patch, architecture) trained on
// the same dataset, which of them scores highest (docs/training.md, "Cross-validation").
#pragma once

#include <string>
#include <vector>

#include "useg/class_eval.h"
#include "useg/eval.h"

namespace useg {

struct CrossValidation {
  std::string dir;                         // as given: a folder of fold_K runs, or one run
  std::vector<std::string> runs;           // its run folders (resolve_run_dirs)
  bool classifier = false;                 // the folds are classifiers: `classification`
  EvalReport report;                       // U-Nets: every fold's validation cases, by name
  ClassificationReport classification;     // classifiers: every fold's predictions.csv rows
  std::vector<std::string> cases;          // case (image) names, sorted
  std::vector<std::string> case_runs;      // the run that validated cases[i]
  std::vector<std::string> not_validated;  // dataset cases (images) no fold validated
  // validation_score of the report: the mean foreground Dice (instance datasets: the mean F1 at
  // IoU 0.5), the same figure each fold's final validation logs for its own cases; a
  // classifier's: the accuracy.
  double score = 0;
  // U-Nets whose best/model.json holds inference.postprocess (useg find-postprocess --apply):
  // the same cases with each fold's steps applied, as useg segment --model FOLD/best would
  // give them, and that report's score; fold_postprocess: each run's steps ("" for none).
  bool has_postprocessed = false;
  EvalReport postprocessed;
  double postprocessed_score = 0;
  std::vector<std::string> fold_postprocess;
  const char* score_name() const;  // "mean foreground Dice", "mean F1 at IoU 0.5", "accuracy"
};

// Scores the final validation files of every fold of `dir` against `data_dir`'s labelsTr (a
// classifier's: every fold's validation/predictions.csv against the class folders or CSV
// `data_dir`, as useg eval --classification). Errors name the run or file: a run without a final
// validation (RUN/validation/summary.json: a run that has not finished), a validation file
// missing, a case two folds validated, a case the dataset does not hold.
CrossValidation cross_validate(const std::string& dir, const std::string& data_dir);

// The ensemble of two cross-validations of one dataset (cross_validate's results over the same
// cases; U-Nets whose final validations kept their probabilities,
// train.final_validation_probabilities): every case's probabilities from the fold of `a` and the
// fold of `b` that validated it, averaged (useg ensemble's rule), the most probable class scored
// against labelsTr — on an instance dataset the average split into objects with the settings of
// a's fold's best/model.json (segment_probabilities, as segment's configuration ensemble does)
// and matched with the reference ids. dir is "A + B", runs both lists. Throws naming the file
// when a probability file is missing.
CrossValidation ensemble_crossval(const CrossValidation& a, const CrossValidation& b,
                                  const std::string& data_dir);
// Whether every fold of `cv` kept its validation probabilities (its first case's files exist).
bool has_validation_probabilities(const CrossValidation& cv, const std::string& data_dir);

// DIR/crossval_summary.json: `useg eval`'s JSON report of every case (a classifier's: `useg eval
// --classification`'s, plus "images"), plus "folds" (the run folders), "case_folds" (the run of
// each case, in the order of "cases" / "images"), "score" and "not_validated"; with postprocessing
// "postprocessed": {"steps": {run: "..."}, "score": x, "report": eval JSON of those labels}.
std::string crossval_summary_path(const std::string& dir);
std::string crossval_json(const CrossValidation& cv);

}  // namespace useg
