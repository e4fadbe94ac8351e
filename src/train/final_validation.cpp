// run_final_validation and stale_validation (final_validation.h).
#include "train/final_validation.h"

#include <algorithm>
#include <filesystem>

#include "config/validation_source.h"
#include "core/files.h"
#include "eval/report_json.h"
#include "useg/class_eval.h"
#include "useg/classify.h"
#include "useg/error.h"
#include "useg/eval.h"
#include "useg/image.h"
#include "useg/model.h"
#include "useg/segment.h"
#include "util/progress.h"

namespace fs = std::filesystem;

namespace useg {

std::string validation_dir(const std::string& run_dir) {
  return (fs::path(run_dir) / "validation").string();
}

std::string validation_summary(const std::string& run_dir) {
  return (fs::path(validation_dir(run_dir)) / "summary.json").string();
}

namespace {

// Class indices -> dataset.json's label values (an identity unless the values
// are not 0..K-1).
void to_label_values(Tensor& labels, const std::vector<int>& values) {
  float* p = labels.data();
  for (int64_t i = 0; i < labels.numel(); ++i) p[i] = float(values[size_t(p[i])]);
}

const char* pixel_for(int64_t largest) {
  return largest < 256 ? "uint8" : largest < 65536 ? "uint16" : "uint32";
}

std::string trained_epochs(const ModelInfo& info) {
  auto it = info.provenance.find("trained_epochs");
  return it == info.provenance.end() ? "" : it->second;
}

// What made the predictions: summary.json's "model" (validation_source.h reads it back).
JsonValue source_json(const ModelInfo& best, bool tta) {
  return JsonValue::object()
      .set("folder", "best")
      .set("trained_epochs", trained_epochs(best))
      .set("test_time_mirroring", tta)
      .set("postprocess", JsonValue::array());
}

// Older predictions and their summary go first.
void empty_dir(const std::string& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  USEG_REQUIRE(!ec, "cannot empty " << dir << ": " << ec.message());
  fs::create_directories(dir, ec);
  USEG_REQUIRE(!ec, "cannot create " << dir << ": " << ec.message());
}

}  // namespace

double validation_score(const EvalReport& r) {
  if (r.cases.empty()) return 0;
  if (r.options.instances) {
    double f1 = 0;
    for (const CaseResult& c : r.cases) f1 += c.instances.at(0).f1;
    return f1 / double(r.cases.size());
  }
  const size_t labels = r.cases[0].labels.size();
  double mean = 0;
  for (size_t l = 0; l < labels; ++l) {
    double sum = 0;
    for (const CaseResult& c : r.cases) sum += c.labels.at(l).dice;
    mean += sum / double(r.cases.size()) / double(labels);
  }
  return mean;
}

FinalValidationResult run_final_validation(const std::string& run_dir, const Dataset& ds,
                                           const std::vector<std::string>& val_cases,
                                           Backend& backend, const FinalValidationOptions& o) {
  const std::string best = (fs::path(run_dir) / "best").string();
  const std::string dir = validation_dir(run_dir);
  LoadedModel m = load_model_dir(best, backend);
  empty_dir(dir);

  const bool instances = ds.meta.instances;
  const std::vector<int> values = ds.class_values();
  EvalReport report;
  report.options.instances = instances;
  if (!instances) report.options.labels.assign(values.begin() + 1, values.end());
  report.pred_path = dir;
  report.ref_path = (fs::path(ds.dir) / "labelsTr").string();
  SegmentOptions opts;
  opts.postprocess = std::vector<PostprocessStep>{};  // the labels before any step
  opts.save_probabilities = o.probabilities;

  FinalValidationResult result;
  Progress prog("final validation", int64_t(val_cases.size()), o.tty);
  for (const std::string& name : val_cases) {
    if (o.stop && o.stop()) {
      prog.finish();
      return result;
    }
    const DatasetCase* dc = ds.find(name);
    if (!dc)
      USEG_THROW(run_dir << " was validated on case " << name << ", which " << ds.dir
                         << " does not hold");
    const Image image = read_image_channels(dc->images, ds.limits);
    Segmentation seg = segment_image(image, m.info, *m.net, opts);
    const std::string file = (fs::path(dir) / (name + ds.meta.file_ending)).string();
    if (o.probabilities) {  // segment's names: CASE_prob_K, .nii.gz where the labels are PNG
      const int K = int(seg.probabilities.shape().c());
      write_probabilities(case_outputs(dir, name, ds.meta.file_ending, K, opts).probabilities,
                          seg.probabilities, image.geometry);
    }
    if (instances) {
      write_image(file, seg.instances, image.geometry,
                  pixel_for(int64_t(seg.instance_class.size())));
    } else {
      to_label_values(seg.labels, values);
      write_image(file, seg.labels, image.geometry, pixel_for(values.back()));
    }
    report.cases.push_back(evaluate_case({name, file, dc->label}, report.options));
    ++result.cases;
    prog.update(int64_t(result.cases), name);
  }
  prog.finish();
  result.score = validation_score(report);
  write_file_atomic(
      validation_summary(run_dir),
      eval_report_json(report).set("model", source_json(m.info, m.info.inference.tta)).dump());
  result.completed = true;
  if (o.log)
    o.log("final validation: " + std::to_string(result.cases) + " case(s) segmented by " + best +
          (m.info.inference.tta ? " (mirrored)" : "") + ", " +
          (instances ? "mean F1 at IoU 0.5 " : "mean foreground Dice ") +
          std::to_string(result.score) + "; wrote " + dir);
  return result;
}

FinalValidationResult run_final_classification(const std::string& run_dir,
                                               const training::ClassDataset& data,
                                               const std::vector<std::string>& val_items,
                                               Device device, const BackendOptions& backend,
                                               const FinalValidationOptions& o) {
  const std::string best = (fs::path(run_dir) / "best").string();
  const std::string dir = validation_dir(run_dir);
  Classifier clf(best, device, backend);
  const std::vector<std::string>& classes = clf.classes();
  empty_dir(dir);

  std::vector<const training::ClassItem*> items;
  for (const std::string& name : val_items) {
    const training::ClassItem* it = data.find(name);
    if (!it)
      USEG_THROW(run_dir << " was validated on image " << name << ", which " << data.source
                         << " does not hold");
    items.push_back(it);
  }
  std::string csv = classify_csv_header(classes) + "\n";
  std::vector<int> truth, predicted;
  std::vector<std::vector<double>> scores;
  FinalValidationResult result;
  const size_t batch = 32;
  Progress prog("final validation", int64_t(items.size()), o.tty);
  for (size_t i0 = 0; i0 < items.size(); i0 += batch) {
    if (o.stop && o.stop()) {
      prog.finish();
      return result;
    }
    std::vector<Tensor> inputs;
    const size_t i1 = std::min(items.size(), i0 + batch);
    for (size_t i = i0; i < i1; ++i)
      inputs.push_back(classifier_input(read_image(items[i]->path), clf.info()));
    const std::vector<std::vector<double>> p = clf.probabilities(inputs, int(batch));
    for (size_t j = 0; j < p.size(); ++j) {
      const training::ClassItem& it = *items[i0 + j];
      csv +=
          classify_csv_row(fs::absolute(it.path).lexically_normal().string(), classes, p[j]) + "\n";
      truth.push_back(it.label);
      predicted.push_back(int(std::max_element(p[j].begin(), p[j].end()) - p[j].begin()));
      scores.push_back(p[j]);
    }
    result.cases = i1;
    prog.update(int64_t(i1));
  }
  prog.finish();
  const std::string predictions = (fs::path(dir) / "predictions.csv").string();
  write_file_atomic(predictions, csv);
  ClassificationReport report = score_classification(classes, truth, predicted, scores);
  report.pred_path = predictions;
  report.ref_path = data.source;
  result.score = report.accuracy;
  write_file_atomic(
      validation_summary(run_dir),
      classification_report_json(report).set("model", source_json(clf.info(), false)).dump());
  result.completed = true;
  if (o.log)
    o.log("final validation: " + std::to_string(result.cases) + " image(s) classified by " + best +
          ", accuracy " + std::to_string(result.score) + "; wrote " + dir);
  return result;
}

std::string stale_validation(const std::string& run_dir, const ModelInfo& best) {
  const std::string summary = validation_summary(run_dir);
  if (!fs::exists(summary)) return summary + " is absent";
  const ValidationSource s = parse_validation_source(read_file(summary), summary);
  const std::string epochs = trained_epochs(best);
  if (s.model != "best" || s.trained_epochs != epochs)
    return summary + " was made by the weights of epoch " + s.trained_epochs +
           ", best/ now holds epoch " + epochs + "'s";
  if (s.tta != best.inference.tta)
    return summary + std::string(" was made ") + (s.tta ? "with" : "without") +
           " test-time mirroring, best/model.json now says " + (best.inference.tta ? "on" : "off");
  return "";
}

}  // namespace useg
