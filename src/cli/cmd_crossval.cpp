// `useg crossval --run CV... --data DATASET`: a cross-validation's folds scored together, and with
// several, the configuration that scores highest (src/train/crossval.h, docs/training.md
// "Cross-validation").
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "core/files.h"
#include "train/crossval.h"
#include "useg/error.h"

namespace useg::cli {

namespace {

struct CrossvalArgs {
  std::vector<std::string> runs;
  std::string data;
};

int run_crossval(const CrossvalArgs& a) {
  std::vector<CrossValidation> all;
  for (const std::string& dir : a.runs) {
    all.push_back(cross_validate(dir, a.data));
    const CrossValidation& cv = all.back();
    write_file_atomic(crossval_summary_path(dir), crossval_json(cv));
    std::cout << dir << ": " << cv.runs.size() << " fold(s), " << cv.cases.size()
              << (cv.classifier ? " validation image(s)" : " validation case(s)") << "; wrote "
              << crossval_summary_path(dir) << "\n"
              << (cv.classifier ? format_classification_summary(cv.classification)
                                : format_summary(cv.report));
    if (cv.has_postprocessed) {
      std::string steps;
      for (size_t i = 0; i < cv.runs.size(); ++i)
        steps += (i ? "; " : "") + cv.runs[i] + ": " +
                 (cv.fold_postprocess[i].empty() ? "none" : cv.fold_postprocess[i]);
      std::cout << "with each fold's postprocessing (best/model.json inference.postprocess: "
                << steps << "): " << cv.score_name() << " " << cv.postprocessed_score
                << " (without: " << cv.score << ")\n";
    }
    if (!cv.not_validated.empty())
      std::cout << "warning: " << cv.not_validated.size() << " case(s) of " << a.data
                << " no fold validated (first: " << cv.not_validated.front()
                << "): the figures are not the whole dataset's\n";
  }
  const CrossValidation& first = all.front();
  if (all.size() == 1) {
    std::cout << first.score_name() << ": " << first.score << "\n";
    return 0;
  }
  for (const CrossValidation& cv : all)
    if (cv.cases != first.cases || std::string(cv.score_name()) != first.score_name())
      USEG_THROW(cv.dir << " and " << first.dir << " cannot be compared: they scored "
                        << (std::string(cv.score_name()) != first.score_name()
                                ? std::string("different measures (") + cv.score_name() + ", " +
                                      first.score_name() + ")"
                                : "different cases (" + std::to_string(cv.cases.size()) + " and " +
                                      std::to_string(first.cases.size()) + ")")
                        << "; the configurations must be cross-validated on the same cases");
  // Ensembles of two configurations, where every fold kept its validation probabilities (`all`
  // grows: nothing below refers to its elements by reference).
  const std::string measure = first.score_name();
  const bool segmentation = !first.classifier;
  const size_t single = all.size();
  bool probabilities = true;
  for (size_t i = 0; i < single; ++i)
    probabilities = probabilities && has_validation_probabilities(all[i], a.data);
  std::vector<std::vector<std::string>> runs;  // the run folders of each entry of `all`
  for (size_t i = 0; i < single; ++i) runs.push_back({all[i].dir});
  if (probabilities)
    for (size_t i = 0; i < single; ++i)
      for (size_t j = i + 1; j < single; ++j) {
        all.push_back(ensemble_crossval(all[i], all[j], a.data));
        runs.push_back({all[i].dir, all[j].dir});
      }
  size_t best = 0;
  std::cout << "\n"
            << measure << " of each cross-validation"
            << (probabilities ? " and of each pair ensembled" : "") << ":\n";
  for (size_t i = 0; i < all.size(); ++i) {
    char line[64];
    std::snprintf(line, sizeof line, "  %10.6f  ", all[i].score);
    std::cout << line << all[i].dir << "\n";
    if (all[i].score > all[best].score) best = i;  // ties keep the earlier: singles first
  }
  if (!probabilities && segmentation)
    std::cout << "(pairs are ensembled where every fold kept its validation probabilities: "
                 "train.final_validation_probabilities)\n";
  std::cout << "best: " << all[best].dir << "\n";
  // The command that uses it: the folds of each run ensembled, a pair's two configurations
  // averaged on the input grid (docs/segment.md, "Ensembles of configurations").
  std::cout << "use it: useg " << (first.classifier ? "classify" : "segment");
  for (const std::string& run : runs[best]) std::cout << " --model " << run;
  std::cout << " --input IMAGES --output " << (first.classifier ? "predictions.csv" : "OUT")
            << "\n";
  return 0;
}

}  // namespace

void register_crossval_commands(CLI::App& app, std::function<int()>& run) {
  auto a = std::make_shared<CrossvalArgs>();
  CLI::App* c = app.add_subcommand(
      "crossval",
      "Score a cross-validation's final validations together (nnU-Net's crossval_results): "
      "writes CV/crossval_summary.json; with several cross-validations of one dataset, names "
      "the one with the highest mean foreground Dice (instance datasets: mean F1; classifiers: "
      "accuracy)");
  c->add_option("--run", a->runs,
                "a folder of fold_K run folders (useg train --fold K --output CV/fold_K), or one "
                "run folder; repeat it to compare configurations")
      ->required();
  c->add_option("--data", a->data,
                "the dataset the runs were trained on (nnU-Net layout; a classifier's: the class "
                "folders or the CSV)")
      ->required();
  c->callback([&run, a] { run = [a] { return run_crossval(*a); }; });
}

}  // namespace useg::cli
