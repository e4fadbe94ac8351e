// `useg eval --pred DIR|FILE --ref DIR|FILE [...]`: segmentation metrics against reference labels;
// `useg eval --classification --pred predictions.csv --ref CLASS_DIR|LABELS.csv`: classification
// metrics of useg classify's predictions.
// Exit codes: 0 every reference was evaluated; 1 a reference has no prediction or a case failed
// (the other cases are still evaluated and written); 2 usage or input errors.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>
#include <map>
#include <sstream>

#include "cli/commands.h"
#include "train/class_data.h"
#include "useg/class_eval.h"
#include "util/cases.h"
#include "useg/error.h"
#include "useg/eval.h"
#include "core/files.h"
#include "useg/image.h"
#include "util/progress.h"

namespace fs = std::filesystem;

namespace useg::cli {

namespace {

struct EvalArgs {
  std::string pred, ref, output, json;
  std::vector<int> labels;
  double tolerance_mm = 1.0;
  bool instances = false;
  bool no_distances = false;
  bool classification = false;
  std::vector<double> iou_thresholds;
};

bool is_folder_of_images(const std::string& p) { return fs::is_directory(p) && !is_image_path(p); }

std::string list_text(const std::vector<std::string>& files, size_t max_shown = 10) {
  std::ostringstream os;
  for (size_t i = 0; i < files.size() && i < max_shown; ++i) os << (i ? ", " : "") << files[i];
  if (files.size() > max_shown) os << ", ... (" << files.size() - max_shown << " more)";
  return os.str();
}

CasePairing pair_inputs(const EvalArgs& a) {
  if (!fs::exists(a.pred)) USEG_THROW("--pred " << a.pred << " does not exist");
  if (!fs::exists(a.ref)) USEG_THROW("--ref " << a.ref << " does not exist");
  const bool pd = is_folder_of_images(a.pred), rd = is_folder_of_images(a.ref);
  if (pd != rd)
    USEG_THROW("--pred and --ref must both be folders or both be image files (got "
               << (pd ? "a folder" : "a file") << " and " << (rd ? "a folder" : "a file") << ")");
  if (!pd) return CasePairing{{CasePair{image_stem(a.ref), a.pred, a.ref}}, {}, {}, {}};
  const std::vector<std::string> refs = list_images(a.ref, false);
  if (refs.empty()) USEG_THROW("--ref " << a.ref << " holds no image files");
  return pair_cases(list_images(a.pred, false), refs);
}

std::string canonical(const std::string& p) {
  std::error_code ec;
  fs::path c = fs::weakly_canonical(fs::absolute(p), ec);
  return ec ? fs::absolute(p).lexically_normal().string() : c.string();
}

// Predictions belong to reference images by path (both resolved to absolute canonical paths).
int run_eval_classification(const EvalArgs& a) {
  if (!fs::exists(a.pred)) USEG_THROW("--pred " << a.pred << " does not exist");
  if (!fs::is_regular_file(a.pred))
    USEG_THROW("--pred " << a.pred << ": --classification expects useg classify's predictions "
                                      "CSV, got a folder");
  ClassPredictions pred = read_class_predictions(a.pred);
  const training::ClassDataset ref = training::scan_class_dataset(a.ref, pred.classes);
  std::map<std::string, size_t> by_path;
  for (size_t i = 0; i < pred.images.size(); ++i) by_path[canonical(pred.images[i])] = i;
  std::vector<int> truth, predicted;
  std::vector<std::vector<double>> scores;
  std::vector<bool> used(pred.images.size(), false);
  std::vector<std::string> missing;
  for (const training::ClassItem& it : ref.items) {
    auto found = by_path.find(canonical(it.path));
    if (found == by_path.end()) {
      missing.push_back(it.path);
      continue;
    }
    used[found->second] = true;
    truth.push_back(it.label);
    predicted.push_back(pred.predicted[found->second]);
    scores.push_back(pred.probability[found->second]);
  }
  USEG_REQUIRE(!truth.empty(), "--pred " << a.pred << " holds no prediction for any of the "
                                         << ref.items.size() << " images of --ref " << a.ref
                                         << " (predictions belong to reference images by path)");
  ClassificationReport r = score_classification(pred.classes, truth, predicted, scores);
  r.pred_path = a.pred;
  r.ref_path = a.ref;
  r.missing_predictions = missing;
  for (size_t i = 0; i < used.size(); ++i)
    if (!used[i]) r.unmatched_predictions.push_back(pred.images[i]);
  if (!r.unmatched_predictions.empty())
    std::cerr << "useg eval: warning: " << r.unmatched_predictions.size()
              << " prediction(s) belong to no reference image and are ignored: "
              << list_text(r.unmatched_predictions) << "\n";
  if (!missing.empty())
    std::cerr << "useg eval: warning: " << missing.size()
              << " reference image(s) have no prediction: " << list_text(missing) << "\n";
  const bool csv_to_stdout = a.output == "-";
  if (!a.output.empty() && !csv_to_stdout) write_file_atomic(a.output, format_classification_csv(r));
  if (!a.json.empty()) write_file_atomic(a.json, format_classification_json(r));
  if (csv_to_stdout) std::cout << format_classification_csv(r);
  std::ostream& out = csv_to_stdout ? std::cerr : std::cout;
  out << format_classification_summary(r);
  if (!a.output.empty() && !csv_to_stdout) out << "wrote " << a.output << "\n";
  if (!a.json.empty()) out << "wrote " << a.json << "\n";
  return missing.empty() ? 0 : 1;
}

int run_eval(const EvalArgs& a) {
  if (a.classification) return run_eval_classification(a);
  EvalReport report;
  report.pred_path = a.pred;
  report.ref_path = a.ref;
  EvalOptions& opt = report.options;
  opt.labels = a.labels;
  opt.tolerance_mm = a.tolerance_mm;
  opt.instances = a.instances;
  opt.distances = !a.no_distances;
  if (!a.iou_thresholds.empty()) opt.iou_thresholds = a.iou_thresholds;
  if (!(a.tolerance_mm >= 0)) USEG_THROW("--tolerance-mm must be >= 0, got " << a.tolerance_mm);
  for (double t : opt.iou_thresholds)
    if (!(t > 0 && t <= 1)) USEG_THROW("--iou-thresholds: " << t << " is outside (0, 1]");
  for (int l : opt.labels)
    if (l < 0) USEG_THROW("--labels: " << l << " is negative");

  CasePairing pairing = pair_inputs(a);
  report.unmatched_predictions = pairing.unmatched_predictions;
  report.missing_predictions = pairing.missing_predictions;
  if (!pairing.unmatched_predictions.empty())
    std::cerr << "useg eval: warning: " << pairing.unmatched_predictions.size()
              << " prediction file(s) match no reference and are ignored: "
              << list_text(pairing.unmatched_predictions) << "\n";
  if (!pairing.missing_predictions.empty())
    std::cerr << "useg eval: warning: " << pairing.missing_predictions.size()
              << " reference(s) have no prediction: " << list_text(pairing.missing_predictions)
              << "\n";
  for (const auto& [name, what] : pairing.problems) {
    std::cerr << "useg eval: case " << name << " failed: " << what << "\n";
    report.failed.emplace_back(name, what);
  }

  Progress progress("eval", static_cast<int64_t>(pairing.pairs.size()));
  for (size_t i = 0; i < pairing.pairs.size(); ++i) {
    const CasePair& p = pairing.pairs[i];
    try {
      report.cases.push_back(evaluate_case(p, opt));
    } catch (const Error& e) {
      progress.log("useg eval: case " + p.name + " failed: " + e.what());
      report.failed.emplace_back(p.name, e.what());
    }
    progress.update(static_cast<int64_t>(i + 1), p.name);
  }
  progress.finish();
  complete_labels(report);

  const bool csv_to_stdout = a.output == "-";
  if (!a.output.empty() && !csv_to_stdout) write_file_atomic(a.output, format_csv(report));
  if (!a.json.empty()) write_file_atomic(a.json, format_json(report));
  if (csv_to_stdout) std::cout << format_csv(report);
  std::ostream& out = csv_to_stdout ? std::cerr : std::cout;
  out << "evaluated " << report.cases.size() << " of "
      << pairing.pairs.size() + pairing.problems.size() + pairing.missing_predictions.size()
      << " reference case(s)";
  if (!report.failed.empty()) out << "; " << report.failed.size() << " failed";
  if (!report.missing_predictions.empty())
    out << "; " << report.missing_predictions.size() << " without prediction";
  out << "\n" << format_summary(report);
  if (!a.output.empty() && !csv_to_stdout) out << "wrote " << a.output << "\n";
  if (!a.json.empty()) out << "wrote " << a.json << "\n";
  return report.failed.empty() && report.missing_predictions.empty() ? 0 : 1;
}

}  // namespace

void register_eval_commands(CLI::App& app, std::function<int()>& run) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* c = app.add_subcommand(
      "eval",
      "Compare predicted label images with reference labels: Dice, IoU, precision, "
      "recall, volumes, Hausdorff (max, 95%), ASSD, surface Dice in mm; or object "
      "matching of instance images (see docs/eval.md)");
  c->add_option("--pred", args->pred,
                "prediction folder or image file (--classification: useg classify's CSV)")
      ->required();
  c->add_option("--ref", args->ref,
                "reference folder or image file; a prediction belongs to the reference of the "
                "same name, or of its name plus a suffix (CASE_seg). --classification: a folder "
                "of class folders or a CSV image,label")
      ->required();
  auto* cls = c->add_flag("--classification", args->classification,
                          "classification metrics of useg classify's predictions: accuracy, "
                          "balanced accuracy, per-class precision/recall/F1, ROC AUC, confusion");
  auto* labels = c->add_option("--labels", args->labels,
                               "labels to evaluate (default: every non-zero label found)")
                     ->delimiter(',');
  auto* tol = c->add_option("--tolerance-mm", args->tolerance_mm,
                            "tolerance of the normalized surface Dice in mm (default 1)");
  c->add_option("--output", args->output, "CSV file to write (- for standard output)");
  c->add_option("--json", args->json, "JSON file to write");
  auto* nod = c->add_flag("--no-distances", args->no_distances,
                          "skip the surface distances (overlap metrics only)");
  auto* inst = c->add_flag("--instances", args->instances,
                           "instance images (cells, nuclei): match objects at IoU thresholds");
  c->add_option("--iou-thresholds", args->iou_thresholds,
                "IoU thresholds of the object matching (default 0.5,0.6,0.7,0.8,0.9), e.g. "
                "0.5,0.75,0.9")
      ->delimiter(',')
      ->needs(inst);
  inst->excludes(labels)->excludes(tol)->excludes(nod);
  cls->excludes(labels)->excludes(tol)->excludes(nod)->excludes(inst);
  c->callback([&run, args] { run = [args] { return run_eval(*args); }; });
}

}  // namespace useg::cli
