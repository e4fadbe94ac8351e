// `useg eval`: pairs prediction and reference files by case name, computes the metrics of
// useg/metrics.h for every case, and writes CSV / JSON reports with per-label means.
// Formats and rules: docs/eval.md.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "useg/image.h"
#include "useg/metrics.h"

namespace useg {

struct CasePair {
  std::string name;  // the reference's image_stem
  std::string pred, ref;
};

struct CasePairing {
  std::vector<CasePair> pairs;                     // sorted by case name
  std::vector<std::string> unmatched_predictions;  // prediction files no reference claims
  std::vector<std::string> missing_predictions;    // reference files without a prediction
  std::vector<std::pair<std::string, std::string>> problems;  // (case, what is wrong)
};

// Pairs files by case name (image_stem). A prediction named exactly like a reference belongs to
// it; otherwise a prediction named REF + separator + anything (separator '_', '-' or '.', e.g.
// "case01_seg" or "case01_pred") belongs to the longest such reference name. A reference claimed
// by two predictions is a problem (both named) and is not evaluated; two references with one
// name are an error.
CasePairing pair_cases(const std::vector<std::string>& pred_files,
                       const std::vector<std::string>& ref_files);

struct EvalOptions {
  std::vector<int> labels;  // empty: every non-zero label found in any reference or prediction
  double tolerance_mm = 1.0;
  bool distances = true;                    // surface distances (label mode)
  bool instances = false;                   // object-level matching instead of per-label metrics
  // Instance mode: the thresholds of the matching; AP (TP / (TP + FP + FN)) at 0.5 ... 0.9 by
  // default, as StarDist reports it.
  std::vector<double> iou_thresholds{0.5, 0.6, 0.7, 0.8, 0.9};
};

struct CaseResult {
  CasePair pair;
  Geometry geometry;
  std::vector<LabelMetrics> labels;       // label mode, sorted by label
  std::vector<InstanceScores> instances;  // instance mode, one per threshold
  double seconds = 0;
};

// Reads both files and computes the case's metrics. Throws naming both files when they differ in
// geometry (size, spacing, origin, direction: what differs is listed), have more than one
// channel, or hold values that are not labels.
CaseResult evaluate_case(const CasePair& pair, const EvalOptions& opt);
// The same for label images already in memory (pair names them for messages and the report):
// what evaluate_case does once it has read the two files. `seconds` counts the metrics only.
CaseResult evaluate_case(const CasePair& pair, const Image& pred, const Image& ref,
                         const EvalOptions& opt);

struct EvalReport {
  EvalOptions options;
  std::string pred_path, ref_path;
  std::vector<CaseResult> cases;
  std::vector<std::pair<std::string, std::string>> failed;  // (case, error message)
  std::vector<std::string> unmatched_predictions, missing_predictions;
};

// Label mode without an explicit label list: gives every case a row for every label any case
// has (a label absent from both images of a case scores as an empty pair: Dice 1, distances
// NaN), so the means run over the same cases for every label.
void complete_labels(EvalReport& report);

// One row per case and label (or threshold), then one mean row per label. Instance mode: per
// case a row per threshold and, with several thresholds, one averaging them (iou_threshold
// "mean"); then a mean and a pooled row per threshold, and with several thresholds a mean and a
// pooled row averaging those. Columns: docs/eval.md.
std::string format_csv(const EvalReport& report);
std::string format_json(const EvalReport& report);
// A short table of the mean rows for the terminal.
std::string format_summary(const EvalReport& report);

}  // namespace useg
