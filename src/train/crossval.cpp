// cross_validate: the folds' final validation files scored together (src/train/crossval.h).
#include "train/crossval.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <numeric>

#include "eval/report_json.h"
#include "train/checkpoint.h"
#include "train/dataset.h"
#include "train/final_validation.h"
#include "train/postprocess_search.h"
#include "useg/error.h"

namespace fs = std::filesystem;

namespace useg {

CrossValidation cross_validate(const std::string& dir, const std::string& data_dir) {
  CrossValidation cv;
  cv.dir = dir;
  cv.runs = resolve_run_dirs({dir});
  const Dataset ds = scan_dataset(data_dir);
  const std::vector<int> values = ds.class_values();
  cv.report.options.instances = ds.meta.instances;
  if (!ds.meta.instances) cv.report.options.labels.assign(values.begin() + 1, values.end());
  cv.report.pred_path = dir;
  cv.report.ref_path = (fs::path(ds.dir) / "labelsTr").string();

  std::map<std::string, std::string> validated_by;  // case -> run
  std::vector<std::pair<CaseResult, std::string>> scored;
  for (const std::string& run : cv.runs) {
    if (!fs::exists(validation_summary(run)))
      USEG_THROW(run << " has no final validation (" << validation_summary(run)
                     << "): a run writes it when it finishes (useg train --resume " << run
                     << " finishes a stopped one; train.final_validation false skips it), and a "
                        "classifier's holds predictions.csv, which useg eval --classification "
                        "scores");
    const training::Checkpoint ckpt =
        training::read_checkpoint((fs::path(run) / "checkpoint.safetensors").string(), false);
    for (const std::string& name : ckpt.val_cases) {
      const auto [it, fresh] = validated_by.emplace(name, run);
      if (!fresh)
        USEG_THROW("case " << name << " is validated by both " << it->second << " and " << run
                           << ": the folds of one cross-validation validate each case once");
      const DatasetCase* dc = ds.find(name);
      if (!dc)
        USEG_THROW(run << " was validated on case " << name << ", which " << data_dir
                       << " does not hold");
      const std::string file =
          (fs::path(validation_dir(run)) / (name + ds.meta.file_ending)).string();
      if (!fs::exists(file))
        USEG_THROW(file << " is missing: " << run << "'s final validation is incomplete ("
                        << "delete " << validation_summary(run) << " and useg train --resume "
                        << run << " redoes it)");
      scored.emplace_back(evaluate_case({name, file, dc->label}, cv.report.options), run);
    }
  }
  std::sort(scored.begin(), scored.end(),
            [](const auto& a, const auto& b) { return a.first.pair.name < b.first.pair.name; });
  for (auto& [result, run] : scored) {
    cv.report.cases.push_back(std::move(result));
    cv.case_runs.push_back(run);
  }
  for (const DatasetCase& c : ds.cases)
    if (!validated_by.count(c.name)) cv.not_validated.push_back(c.name);
  cv.score = validation_score(cv.report);
  return cv;
}

std::string crossval_summary_path(const std::string& dir) {
  return (fs::path(dir) / "crossval_summary.json").string();
}

std::string crossval_json(const CrossValidation& cv) {
  return eval_report_json(cv.report)
      .set("folds", JsonValue(cv.runs))
      .set("case_folds", JsonValue(cv.case_runs))
      .set("score", JsonValue::number(cv.score, 10))
      .set("not_validated", JsonValue(cv.not_validated))
      .dump();
}

}  // namespace useg
