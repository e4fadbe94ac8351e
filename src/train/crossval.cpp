// cross_validate: the folds' final validation files scored together (src/train/crossval.h).
#include "train/crossval.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <numeric>

#include "config/json_util.h"
#include "eval/report_json.h"
#include "infer/prob_ensemble.h"
#include "train/checkpoint.h"
#include "train/class_data.h"
#include "train/data.h"
#include "train/dataset.h"
#include "train/final_validation.h"
#include "train/postprocess_search.h"
#include "useg/error.h"
#include "useg/image.h"
#include "useg/infer.h"
#include "useg/metrics.h"
#include "useg/model.h"
#include "useg/segment.h"

namespace fs = std::filesystem;

namespace useg {

const char* CrossValidation::score_name() const {
  return classifier                 ? "accuracy"
         : report.options.instances ? "mean F1 at IoU 0.5"
                                    : "mean foreground Dice";
}

namespace {

void require_final_validation(const std::string& run) {
  if (!fs::exists(validation_summary(run)))
    USEG_THROW(run << " has no final validation (" << validation_summary(run)
                   << "): a run writes it when it finishes (useg train --resume " << run
                   << " finishes a stopped one; train.final_validation false skips it)");
}

std::vector<std::string> val_cases(const std::string& run) {
  return training::read_checkpoint((fs::path(run) / "checkpoint.safetensors").string(), false)
      .val_cases;
}

void claim(std::map<std::string, std::string>& validated_by, const std::string& name,
           const std::string& run) {
  const auto [it, fresh] = validated_by.emplace(name, run);
  if (!fresh)
    USEG_THROW("case " << name << " is validated by both " << it->second << " and " << run
                       << ": the folds of one cross-validation validate each case once");
}

// Classifiers: the folds' predictions.csv rows, each image by the run that validated it.
void cross_validate_classifier(CrossValidation& cv, const std::string& data_dir,
                               const ModelInfo& first) {
  const training::ClassDataset data = training::scan_class_dataset(data_dir, first.labels);
  std::map<std::string, const training::ClassItem*> by_path;  // absolute path -> item
  for (const training::ClassItem& it : data.items)
    by_path[fs::absolute(it.path).lexically_normal().string()] = &it;
  std::map<std::string, std::string> validated_by;
  struct Row {
    std::string name, run;
    int truth, predicted;
    std::vector<double> scores;
  };
  std::vector<Row> rows;
  for (const std::string& run : cv.runs) {
    require_final_validation(run);
    const std::string csv = (fs::path(validation_dir(run)) / "predictions.csv").string();
    if (!fs::exists(csv))
      USEG_THROW(csv << " is missing: " << run << " is not a classifier's run, or its final "
                     << "validation is incomplete");
    const ClassPredictions p = read_class_predictions(csv);
    if (p.classes != data.classes)
      USEG_THROW(csv << "'s classes differ from " << data_dir << "'s (was " << run
                     << " trained on it?)");
    for (size_t i = 0; i < p.images.size(); ++i) {
      const auto it = by_path.find(fs::absolute(p.images[i]).lexically_normal().string());
      if (it == by_path.end())
        USEG_THROW(csv << ": " << p.images[i] << " is not an image of " << data_dir);
      claim(validated_by, it->second->name, run);
      rows.push_back({it->second->name, run, it->second->label, p.predicted[i], p.probability[i]});
    }
  }
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.name < b.name; });
  std::vector<int> truth, predicted;
  std::vector<std::vector<double>> scores;
  for (Row& r : rows) {
    cv.cases.push_back(r.name);
    cv.case_runs.push_back(r.run);
    truth.push_back(r.truth);
    predicted.push_back(r.predicted);
    scores.push_back(std::move(r.scores));
  }
  cv.classification = score_classification(data.classes, truth, predicted, scores);
  cv.classification.pred_path = cv.dir;
  cv.classification.ref_path = data.source;
  for (const training::ClassItem& it : data.items)
    if (!validated_by.count(it.name)) cv.not_validated.push_back(it.name);
  cv.score = cv.classification.accuracy;
}

// The case's validation labels with `steps` applied (dataset values -> class indices -> steps ->
// values), scored as evaluate_case scores files.
CaseResult postprocessed_case(const CasePair& pair, const Dataset& ds,
                              const std::vector<PostprocessStep>& steps, const EvalOptions& opt) {
  Image pred = read_image(pair.pred, ds.limits);
  const std::string bad =
      training::map_labels(pred.voxels, training::label_lookup(ds), ds, pair.name);
  if (!bad.empty()) USEG_THROW(pair.pred << ": " << bad);
  const std::vector<int> values = ds.class_values();
  apply_postprocess(pred.voxels, pred.geometry, int(values.size()), steps, pair.pred);
  float* p = pred.voxels.data();
  for (int64_t i = 0; i < pred.voxels.numel(); ++i) p[i] = float(values[size_t(p[i])]);
  return evaluate_case(pair, pred, read_image(pair.ref, ds.limits), opt);
}

}  // namespace

CrossValidation cross_validate(const std::string& dir, const std::string& data_dir) {
  CrossValidation cv;
  cv.dir = dir;
  cv.runs = resolve_run_dirs({dir});
  const std::string first_json = (fs::path(cv.runs.front()) / "best" / "model.json").string();
  if (fs::exists(first_json)) {
    const ModelInfo first = load_model_info(first_json);
    if (first.model.classifier()) {
      cv.classifier = true;
      cross_validate_classifier(cv, data_dir, first);
      return cv;
    }
  }
  const Dataset ds = scan_dataset(data_dir);
  const std::vector<int> values = ds.class_values();
  cv.report.options.instances = ds.meta.instances;
  if (!ds.meta.instances) cv.report.options.labels.assign(values.begin() + 1, values.end());
  cv.report.pred_path = dir;
  cv.report.ref_path = (fs::path(ds.dir) / "labelsTr").string();

  // Each fold's postprocessing, as its best/model.json says now (instance models: their split
  // settings made the files already).
  std::map<std::string, std::vector<PostprocessStep>> steps;
  for (const std::string& run : cv.runs) {
    const std::string json = (fs::path(run) / "best" / "model.json").string();
    const std::vector<std::string> given = fs::exists(json) && !ds.meta.instances
                                               ? load_model_info(json).inference.postprocess
                                               : std::vector<std::string>{};
    steps[run] = parse_postprocess(given);
    cv.fold_postprocess.push_back(cfg::join(given, ","));
    cv.has_postprocessed |= !steps[run].empty();
  }
  cv.postprocessed.options = cv.report.options;
  cv.postprocessed.pred_path = dir;
  cv.postprocessed.ref_path = cv.report.ref_path;

  std::map<std::string, std::string> validated_by;  // case -> run
  struct Scored {
    CaseResult raw, post;
    std::string run;
  };
  std::vector<Scored> scored;
  for (const std::string& run : cv.runs) {
    require_final_validation(run);
    for (const std::string& name : val_cases(run)) {
      claim(validated_by, name, run);
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
      Scored sc;
      sc.raw = evaluate_case({name, file, dc->label}, cv.report.options);
      if (cv.has_postprocessed)
        sc.post = steps[run].empty() ? sc.raw
                                     : postprocessed_case({name, file, dc->label}, ds, steps[run],
                                                          cv.report.options);
      sc.run = run;
      scored.push_back(std::move(sc));
    }
  }
  std::sort(scored.begin(), scored.end(),
            [](const Scored& a, const Scored& b) { return a.raw.pair.name < b.raw.pair.name; });
  for (Scored& sc : scored) {
    cv.cases.push_back(sc.raw.pair.name);
    cv.report.cases.push_back(std::move(sc.raw));
    if (cv.has_postprocessed) cv.postprocessed.cases.push_back(std::move(sc.post));
    cv.case_runs.push_back(sc.run);
  }
  for (const DatasetCase& c : ds.cases)
    if (!validated_by.count(c.name)) cv.not_validated.push_back(c.name);
  cv.score = validation_score(cv.report);
  if (cv.has_postprocessed) cv.postprocessed_score = validation_score(cv.postprocessed);
  return cv;
}

namespace {

// CASE_prob_K files of a run's final validation (segment's names, case_outputs).
std::vector<std::string> probability_files(const std::string& run, const std::string& name,
                                           const Dataset& ds) {
  SegmentOptions so;
  so.save_probabilities = true;
  // An instance model's classes: background, interior, boundary.
  const int K = ds.meta.instances ? 3 : int(ds.class_values().size());
  return case_outputs(validation_dir(run), name, ds.meta.file_ending, K, so).probabilities;
}

}  // namespace

bool has_validation_probabilities(const CrossValidation& cv, const std::string& data_dir) {
  if (cv.classifier || cv.cases.empty()) return false;
  const Dataset ds = scan_dataset(data_dir);
  for (const std::string& run : cv.runs) {
    const auto it = std::find(cv.case_runs.begin(), cv.case_runs.end(), run);
    if (it == cv.case_runs.end()) continue;
    const std::string& name = cv.cases[size_t(it - cv.case_runs.begin())];
    for (const std::string& f : probability_files(run, name, ds))
      if (!fs::exists(f)) return false;
  }
  return true;
}

CrossValidation ensemble_crossval(const CrossValidation& a, const CrossValidation& b,
                                  const std::string& data_dir) {
  USEG_REQUIRE(a.cases == b.cases, a.dir << " and " << b.dir << " validated different cases");
  const Dataset ds = scan_dataset(data_dir);
  const std::vector<int> values = ds.class_values();
  CrossValidation e;
  e.dir = a.dir + " + " + b.dir;
  e.runs = a.runs;
  e.runs.insert(e.runs.end(), b.runs.begin(), b.runs.end());
  e.cases = a.cases;
  e.report.options = a.report.options;
  e.report.pred_path = e.dir;
  e.report.ref_path = a.report.ref_path;
  const bool instances = a.report.options.instances;
  std::map<std::string, ModelInfo> models;  // an instance dataset: each run's best/ settings
  for (size_t i = 0; i < a.cases.size(); ++i) {
    const std::string& name = a.cases[i];
    e.case_runs.push_back(a.case_runs[i] + " + " + b.case_runs[i]);
    std::vector<std::vector<std::string>> files;
    for (const std::string& run : {a.case_runs[i], b.case_runs[i]}) {
      files.push_back(probability_files(run, name, ds));
      for (const std::string& f : files.back())
        USEG_REQUIRE(fs::exists(f), f << " is missing: ensembles need the folds' validation "
                                         "probabilities (train.final_validation_probabilities)");
    }
    Geometry g;
    Tensor labels;
    if (instances) {  // the split of the average with a's fold's settings, as segment does
      const std::string& run = a.case_runs[i];
      if (!models.count(run))
        models[run] = load_model_info((fs::path(run) / "best" / "model.json").string());
      Segmentation seg;
      segment_probabilities(seg, mean_probability_files(files, g, ds.limits), g, models[run],
                            SegmentOptions{}, files[0][0]);
      labels = std::move(seg.instances);
    } else {
      labels = argmax_labels(mean_probability_files(files, g, ds.limits));
      float* l = labels.data();
      for (int64_t v = 0; v < labels.numel(); ++v) l[v] = float(values[size_t(l[v])]);
    }
    const DatasetCase* dc = ds.find(name);
    USEG_REQUIRE(dc, data_dir << " does not hold case " << name);
    e.report.cases.push_back(evaluate_case({name, e.case_runs.back(), dc->label},
                                           Image{g, std::move(labels), e.case_runs.back()},
                                           read_image(dc->label, ds.limits), e.report.options));
  }
  e.score = validation_score(e.report);
  return e;
}

std::string crossval_summary_path(const std::string& dir) {
  return (fs::path(dir) / "crossval_summary.json").string();
}

std::string crossval_json(const CrossValidation& cv) {
  JsonValue j =
      cv.classifier
          ? classification_report_json(cv.classification).set("images", JsonValue(cv.cases))
          : eval_report_json(cv.report);
  j.set("folds", JsonValue(cv.runs))
      .set("case_folds", JsonValue(cv.case_runs))
      .set("score", JsonValue::number(cv.score, 10))
      .set("not_validated", JsonValue(cv.not_validated));
  if (cv.has_postprocessed) {
    JsonValue steps = JsonValue::object();
    for (size_t i = 0; i < cv.runs.size(); ++i) steps.set(cv.runs[i], cv.fold_postprocess[i]);
    j.set("postprocessed", JsonValue::object()
                               .set("steps", std::move(steps))
                               .set("score", JsonValue::number(cv.postprocessed_score, 10))
                               .set("report", eval_report_json(cv.postprocessed)));
  }
  return j.dump();
}

}  // namespace useg
