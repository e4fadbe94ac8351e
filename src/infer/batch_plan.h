// The case planner of `useg segment` (private to src/infer): which cases this process takes and,
// for each, whether it fails before running (with the reason), is skipped (its outputs exist) or
// runs, and where its outputs go. No model and no voxels are involved, only file names and
// the file system.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "useg/segment.h"

namespace useg::batch {

// A case that runs, with the index of its record in BatchResult::cases.
struct PlannedCase {
  size_t record = 0;
  BatchCase c;
  CaseOutputs outputs;
};

struct BatchPlan {
  BatchResult result;               // a record per case: "failed", "skipped" or "pending"; the
                                    // report paths (report_json, report_csv)
  std::vector<PlannedCase> to_run;  // the "pending" ones, in case order
  size_t cases = 0;                 // cases of this shard
};

// OUTPUT/report.json, OUTPUT/report-shard-I-of-N.json when sharded, or --report; and the CSV
// beside it (the .json name with .csv, or NAME.csv).
std::string report_json_path(const BatchOptions& o);
std::string report_csv_path(const std::string& report_json);

// The decisions for `cases` (already sharded), in order:
//   - a case with a problem (bad channel naming, two cases with one name) fails with it;
//   - a case whose output would overwrite one of its inputs fails;
//   - a case whose outputs all exist is skipped (unless --overwrite);
//   - every other case runs.
// `num_classes` is the model's (one probability file per class). Sets the report paths.
BatchPlan plan_cases(const std::vector<BatchCase>& cases, const BatchOptions& o, int num_classes);

// The whole planning step: the cases of the inputs (find_cases), this process's shard, the
// output folder and the report's folder created, then plan_cases. Throws useg::Error for
// usage errors (an input that does not exist, a folder without images, a folder that cannot be
// created).
BatchPlan plan_batch(const BatchOptions& o, int num_classes);

// Removes the temporary files of killed runs (their process is gone) from the folders the batch
// writes into (the report's and every case's output folder), logging each folder cleaned.
void clean_stale_temp_files(const BatchPlan& plan,
                            const std::function<void(const std::string&)>& log);

}  // namespace useg::batch
