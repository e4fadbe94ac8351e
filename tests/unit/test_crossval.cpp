// `useg crossval` (src/train/crossval.h): two 2-fold cross-validations of tiny networks on noisy
// blobs; the summary must hold every case once with the rows of its fold's own
// validation/summary.json, its means must equal `useg eval` of all validation files copied into
// one folder, the comparison must name the higher score, and the errors must name the run or file.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "common/cell_dataset.h"
#include "common/shape_classes.h"
#include "common/train_fixtures.h"
#include "core/files.h"
#include "segment_test_util.h"
#include "train/checkpoint.h"
#include "train/crossval.h"
#include "useg/class_eval.h"
#include "useg/image.h"
#include "useg/metrics.h"
#include "useg/model.h"
#include "useg/train.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

using test::quote;
using test::run_useg;

void train_cv(const fs::path& data, const fs::path& cv, int epochs, bool probabilities = false) {
  for (int k = 0; k < 2; ++k) {
    RunConfig run = test::tiny_run(2);
    run.train.epochs = epochs;
    run.train.final_validation_probabilities = probabilities;
    run.train.iterations_per_epoch = 4;
    run.train.fold = k;
    run.train.folds = 2;
    train(test::quiet_train_options(data, cv / ("fold_" + std::to_string(k)), run));
  }
}

// Six noisy 48x48 blob cases: a briefly trained network leaves specks a postprocessing removes.
void write_noisy_blobs(const fs::path& dir) {
  test::BlobDataset b;
  b.cases = 6;
  b.size = 48;
  b.noise = 0.6;
  test::write_blob_dataset(dir, b);
}

double mean_dice(const nlohmann::json& report) {
  for (const auto& row : report.at("summary"))
    if (row.at("label") == 1) return row.at("dice").get<double>();
  return -1;
}

TEST(Crossval, ScoresEveryFoldsValidationTogetherAndComparesConfigurations) {
  const fs::path root = test::fresh_dir("crossval");
  write_noisy_blobs(root / "data");
  train_cv(root / "data", root / "a", 2);
  train_cv(root / "data", root / "b", 1);

  auto r = run_useg("crossval --run " + quote(root / "a") + " --data " + quote(root / "data"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("2 fold(s), 6 validation case(s)"), std::string::npos) << r.output;
  const nlohmann::json j =
      nlohmann::json::parse(read_file((root / "a" / "crossval_summary.json").string()));
  ASSERT_EQ(j.at("cases").size(), 6u);
  EXPECT_TRUE(j.at("not_validated").empty());
  // Every case once, in name order, with the rows its own fold's final validation wrote.
  std::string previous;
  for (size_t i = 0; i < 6; ++i) {
    const nlohmann::json& c = j["cases"][i];
    const std::string name = c.at("case"), run = j.at("case_folds")[i];
    EXPECT_LT(previous, name);
    previous = name;
    const nlohmann::json fold =
        nlohmann::json::parse(read_file((fs::path(run) / "validation" / "summary.json").string()));
    bool found = false;
    for (const auto& fc : fold.at("cases"))
      if (fc.at("case") == name) {
        found = true;
        EXPECT_EQ(fc.at("rows"), c.at("rows")) << name;
      }
    EXPECT_TRUE(found) << name << " in " << run;
  }
  // The means: useg eval of all the validation files in one folder against labelsTr.
  fs::create_directories(root / "all");
  for (int k = 0; k < 2; ++k)
    for (const auto& e :
         fs::directory_iterator(root / "a" / ("fold_" + std::to_string(k)) / "validation"))
      if (e.path().extension() == ".gz")
        fs::copy_file(e.path(), root / "all" / e.path().filename());
  auto e = run_useg("eval --pred " + quote(root / "all") + " --ref " +
                    quote(root / "data" / "labelsTr") + " --labels 1 --json " +
                    quote(root / "all.json"));
  ASSERT_EQ(e.code, 0) << e.output;
  const nlohmann::json ev = nlohmann::json::parse(read_file((root / "all.json").string()));
  EXPECT_NEAR(mean_dice(j), mean_dice(ev), 1e-12);
  EXPECT_NEAR(j.at("score").get<double>(), mean_dice(ev), 1e-9);

  // Two configurations: the higher score is named.
  r = run_useg("crossval --run " + quote(root / "b") + " --run " + quote(root / "a") + " --data " +
               quote(root / "data"));
  ASSERT_EQ(r.code, 0) << r.output;
  const double sa = cross_validate((root / "a").string(), (root / "data").string()).score;
  const double sb = cross_validate((root / "b").string(), (root / "data").string()).score;
  ASSERT_NE(sa, sb) << "the two configurations must differ";
  EXPECT_NE(r.output.find("(pairs are ensembled where every fold kept its validation "
                          "probabilities: train.final_validation_probabilities)"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("best: " + (root / (sa > sb ? "a" : "b")).string() + "\n"),
            std::string::npos)
      << r.output;
  EXPECT_NE(
      r.output.find("use it: useg segment --model " + (root / (sa > sb ? "a" : "b")).string() +
                    " --input IMAGES --output OUT\n"),
      std::string::npos)
      << r.output;

  // One fold alone: the other fold's cases are listed as not validated, and it cannot be
  // compared with a whole cross-validation.
  r = run_useg("crossval --run " + quote(root / "a" / "fold_1") + " --data " +
               quote(root / "data"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("warning: 3 case(s) of"), std::string::npos) << r.output;
  r = run_useg("crossval --run " + quote(root / "a") + " --run " + quote(root / "b" / "fold_0") +
               " --data " + quote(root / "data"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find((root / "b" / "fold_0").string() + " and " + (root / "a").string() +
                          " cannot be compared: they scored different cases (3 and 6)"),
            std::string::npos)
      << r.output;

  // After find-postprocess --apply, crossval also scores the labels with each fold's steps: the
  // same figure as the search's chosen candidate (both: the mean over the cases of the Dice).
  r = run_useg("find-postprocess --run " + quote(root / "a") + " --data " + quote(root / "data") +
               " --threads 1 --apply");
  ASSERT_EQ(r.code, 0) << r.output;
  const nlohmann::json pp =
      nlohmann::json::parse(read_file((root / "a" / "postprocess.json").string()));
  ASSERT_FALSE(pp.at("chosen").empty()) << "this setup's specks make a postprocessing worth it";
  double chosen_dice = -1;
  for (const auto& c : pp.at("candidates"))
    if (c.at("steps") == pp.at("chosen")) chosen_dice = c.at("mean_fg_dice").get<double>();
  r = run_useg("crossval --run " + quote(root / "a") + " --data " + quote(root / "data"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("with each fold's postprocessing"), std::string::npos) << r.output;
  const nlohmann::json jp =
      nlohmann::json::parse(read_file((root / "a" / "crossval_summary.json").string()));
  EXPECT_NEAR(jp.at("postprocessed").at("score").get<double>(), chosen_dice, 1e-9);
  EXPECT_NEAR(jp.at("score").get<double>(), pp.at("candidates")[0].at("mean_fg_dice").get<double>(),
              1e-9)
      << "without steps: the search's 'none'";
  EXPECT_EQ(jp.at("postprocessed").at("report").at("cases").size(), 6u);

  // Errors name the file or run.
  fs::copy(root / "a" / "fold_0", root / "a" / "fold_2", fs::copy_options::recursive);
  r = run_useg("crossval --run " + quote(root / "a") + " --data " + quote(root / "data"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("is validated by both " + (root / "a" / "fold_0").string() + " and " +
                          (root / "a" / "fold_2").string()),
            std::string::npos)
      << r.output;
  fs::remove_all(root / "a" / "fold_2");
  fs::remove(root / "b" / "fold_1" / "validation" / "summary.json");
  r = run_useg("crossval --run " + quote(root / "b") + " --data " + quote(root / "data"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find((root / "b" / "fold_1").string() + " has no final validation"),
            std::string::npos)
      << r.output;
  const nlohmann::json fold0 = nlohmann::json::parse(
      read_file((root / "a" / "fold_0" / "validation" / "summary.json").string()));
  const std::string first = fold0.at("cases")[0].at("case");
  const fs::path gone = root / "a" / "fold_0" / "validation" / (first + ".nii.gz");
  fs::remove(gone);
  r = run_useg("crossval --run " + quote(root / "a") + " --data " + quote(root / "data"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find(gone.string() + " is missing"), std::string::npos) << r.output;
}

// Two configurations whose folds kept their validation probabilities: crossval also scores the
// pair ensembled, which must equal useg ensemble of each fold's two validation folders (the folds
// validate the same cases: one splits.json) scored by useg eval.
TEST(Crossval, EnsemblesOfConfigurationsAreScoredFromTheValidationProbabilities) {
  const fs::path root = test::fresh_dir("crossval_ensemble");
  write_noisy_blobs(root / "data");
  train_cv(root / "data", root / "a", 2, true);
  train_cv(root / "data", root / "b", 1, true);
  // The probabilities beside the labels, segment's names, summing to 1.
  const nlohmann::json fold0 = nlohmann::json::parse(
      read_file((root / "a" / "fold_0" / "validation" / "summary.json").string()));
  const std::string first = fold0.at("cases")[0].at("case");
  const Image p0 =
      read_image((root / "a" / "fold_0" / "validation" / (first + "_prob_0.nii.gz")).string());
  const Image p1 =
      read_image((root / "a" / "fold_0" / "validation" / (first + "_prob_1.nii.gz")).string());
  for (int64_t i = 0; i < p0.voxels.numel(); ++i)
    ASSERT_NEAR(p0.voxels.data()[i] + p1.voxels.data()[i], 1.f, 1e-5) << "voxel " << i;

  auto r = run_useg("crossval --run " + quote(root / "a") + " --run " + quote(root / "b") +
                    " --data " + quote(root / "data"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("of each cross-validation and of each pair ensembled"), std::string::npos)
      << r.output;
  const std::string pair = (root / "a").string() + " + " + (root / "b").string();
  const size_t at = r.output.find(pair + "\n");
  ASSERT_NE(at, std::string::npos) << r.output;
  const double shown = std::stod(r.output.substr(r.output.rfind('\n', at) + 1));
  // The command that uses the best: a pair is both runs given to segment (a configuration
  // ensemble).
  const size_t best_at = r.output.find("best: ");
  ASSERT_NE(best_at, std::string::npos) << r.output;
  const std::string best = r.output.substr(best_at + 6, r.output.find('\n', best_at) - best_at - 6);
  const std::string models =
      best == pair ? " --model " + (root / "a").string() + " --model " + (root / "b").string()
                   : " --model " + best;
  EXPECT_NE(r.output.find("use it: useg segment" + models + " --input"), std::string::npos)
      << r.output;

  fs::create_directories(root / "ens");
  for (int k = 0; k < 2; ++k) {
    const std::string f = "fold_" + std::to_string(k);
    auto e =
        run_useg("ensemble --input " + quote(root / "a" / f / "validation") + " --input " +
                 quote(root / "b" / f / "validation") + " --output " + quote(root / ("e" + f)));
    ASSERT_EQ(e.code, 0) << e.output;
    for (const auto& x : fs::directory_iterator(root / ("e" + f)))
      fs::copy_file(x.path(), root / "ens" / x.path().filename());
  }
  auto e = run_useg("eval --pred " + quote(root / "ens") + " --ref " +
                    quote(root / "data" / "labelsTr") + " --labels 1 --json " +
                    quote(root / "ens.json"));
  ASSERT_EQ(e.code, 0) << e.output;
  EXPECT_NEAR(shown, mean_dice(nlohmann::json::parse(read_file((root / "ens.json").string()))),
              1e-6);
}

// An instance dataset: the pair's probabilities averaged and split into objects with the settings
// of the first configuration's fold (segment's configuration ensemble), matched with the
// reference ids. The reference: useg ensemble --model of each fold's two validation folders, its
// objects matched here, the per-case F1 averaged.
TEST(Crossval, InstanceEnsemblesSplitTheAverageWithTheFirstRunsSettings) {
  const fs::path root = test::fresh_dir("crossval_instances");
  const fs::path data = root / "data";
  test::write_cell_dataset(data, 6, 11);
  for (const auto& [name, patch] : {std::pair<std::string, int>{"a", 32}, {"b", 48}})
    for (int k = 0; k < 2; ++k) {
      RunConfig run = test::cell_run();
      run.train.patch_size = {patch, patch};
      run.train.final_validation_probabilities = true;
      run.train.fold = k;
      run.train.folds = 2;
      train(test::quiet_train_options(data, root / name / ("fold_" + std::to_string(k)), run));
    }
  auto r = run_useg("crossval --run " + quote(root / "a") + " --run " + quote(root / "b") +
                    " --data " + quote(data));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("mean F1 at IoU 0.5 of each cross-validation and of each pair ensembled"),
            std::string::npos)
      << r.output;
  const std::string pair = (root / "a").string() + " + " + (root / "b").string();
  const size_t at = r.output.find(pair + "\n");
  ASSERT_NE(at, std::string::npos) << r.output;
  const double shown = std::stod(r.output.substr(r.output.rfind('\n', at) + 1));

  double sum = 0;
  int cases = 0;
  for (int k = 0; k < 2; ++k) {
    const fs::path f = fs::path("fold_" + std::to_string(k));
    const fs::path out = root / ("e" + f.string());
    auto e = run_useg("ensemble --input " + quote(root / "a" / f / "validation") + " --input " +
                      quote(root / "b" / f / "validation") + " --model " +
                      quote(root / "a" / f / "best") + " --output " + quote(out));
    ASSERT_EQ(e.code, 0) << e.output;
    for (const auto& x : fs::directory_iterator(out)) {
      const std::string file = x.path().filename().string();
      const size_t cut = file.find("_instances.nii.gz");
      if (cut == std::string::npos) continue;
      const Image pred = read_image(x.path().string());
      const Image ref =
          read_image((data / "labelsTr" / (file.substr(0, cut) + ".nii.gz")).string());
      sum += match_instances(instance_overlap(pred.voxels, ref.voxels), 0.5).f1;
      ++cases;
    }
  }
  ASSERT_EQ(cases, 6);
  EXPECT_NEAR(shown, sum / cases, 1e-6) << r.output;
}

// A classifier's cross-validation: --fold gives stratified folds (every image validated once,
// each class in every fold); crossval's figures equal useg eval --classification of the folds'
// predictions.csv joined into one file.
TEST(Crossval, ClassifierFoldsAreStratifiedAndScoredTogether) {
  const fs::path data = test::make_shapes("crossval_shapes", 9, 4);
  const fs::path root = test::fresh_dir("crossval_classifier");
  // Fold 0 through the command line (--fold / --folds on a classifier's config), 1 and 2 in
  // process: the same split either way.
  test::write_text(root / "cnn.json", to_json_string(test::cnn_config(2)) + "\n");
  const auto t =
      run_useg("train --config " + quote(root / "cnn.json") + " --data " + quote(data) +
               " --fold 0 --folds 3 --output " + quote(root / "cv" / "fold_0") + " --threads 1");
  ASSERT_EQ(t.code, 0) << t.output;
  EXPECT_NE(t.output.find("; best validation accuracy "), std::string::npos) << t.output;
  EXPECT_NE(t.output.find("cross-validation: wrote " + (data / "splits.json").string()),
            std::string::npos)
      << t.output;
  for (int k = 1; k < 3; ++k) {
    RunConfig run = test::cnn_config(2);
    run.train.fold = k;
    run.train.folds = 3;
    train(test::quiet_train_options(data, root / "cv" / ("fold_" + std::to_string(k)), run));
  }
  std::string joined;
  std::set<std::string> seen;
  for (int k = 0; k < 3; ++k) {
    const fs::path run = root / "cv" / ("fold_" + std::to_string(k));
    const std::string csv = read_file((run / "validation" / "predictions.csv").string());
    const size_t header_end = csv.find('\n') + 1;
    joined += k == 0 ? csv : csv.substr(header_end);
    const std::vector<std::string> val =
        training::read_checkpoint((run / "checkpoint.safetensors").string(), false).val_cases;
    EXPECT_EQ(val.size(), 6u) << "18 images in 3 folds";
    int discs = 0;
    for (const std::string& v : val) {
      EXPECT_TRUE(seen.insert(v).second) << v << " validated twice";
      discs += v.rfind("disc", 0) == 0;
    }
    EXPECT_EQ(discs, 3) << "stratified: 9 discs and 9 squares give 3 of each per fold";
  }
  EXPECT_EQ(seen.size(), 18u);
  test::write_text(root / "joined.csv", joined);

  auto r = run_useg("crossval --run " + quote(root / "cv") + " --data " + quote(data));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("3 fold(s), 18 validation image(s)"), std::string::npos) << r.output;
  const nlohmann::json j =
      nlohmann::json::parse(read_file((root / "cv" / "crossval_summary.json").string()));
  auto e = run_useg("eval --classification --pred " + quote(root / "joined.csv") + " --ref " +
                    quote(data) + " --json " + quote(root / "eval.json"));
  ASSERT_EQ(e.code, 0) << e.output;
  const nlohmann::json ev = nlohmann::json::parse(read_file((root / "eval.json").string()));
  for (const char* key :
       {"n", "accuracy", "balanced_accuracy", "macro_f1", "macro_auc", "per_class", "confusion"})
    EXPECT_EQ(j.at(key), ev.at(key)) << key;
  EXPECT_NEAR(j.at("score").get<double>(), ev.at("accuracy").get<double>(), 1e-9);
  ASSERT_EQ(j.at("images").size(), 18u);
  EXPECT_EQ(j.at("case_folds").size(), 18u);
  EXPECT_TRUE(j.at("not_validated").empty());

  r = run_useg("crossval --run " + quote(root / "cv") + " --run " + quote(root / "cv") +
               " --data " + quote(data));
  ASSERT_EQ(r.code, 0) << r.output << " (the same twice: comparable)";
  EXPECT_NE(r.output.find("best: " + (root / "cv").string()), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("use it: useg classify --model " + (root / "cv").string() +
                          " --input IMAGES --output predictions.csv"),
            std::string::npos)
      << r.output;

  // useg classify --model CV: the three folds' best/ together, each image's probabilities the
  // mean of the three models' (each run alone, written to 10 significant digits).
  std::vector<ClassPredictions> single;
  for (int k = 0; k < 3; ++k) {
    const fs::path out = root / ("single_" + std::to_string(k) + ".csv");
    auto c = run_useg("classify --model " +
                      quote(root / "cv" / ("fold_" + std::to_string(k)) / "best") + " --input " +
                      quote(data) + " --recursive --output " + quote(out) + " --threads 1");
    ASSERT_EQ(c.code, 0) << c.output;
    single.push_back(read_class_predictions(out.string()));
  }
  auto c = run_useg("classify --model " + quote(root / "cv") + " --input " + quote(data) +
                    " --recursive --output " + quote(root / "ensemble.csv") + " --threads 1");
  ASSERT_EQ(c.code, 0) << c.output;
  const ClassPredictions ens = read_class_predictions((root / "ensemble.csv").string());
  ASSERT_EQ(ens.images.size(), 18u);
  double largest_gap = 0;  // between two models: the ensemble must not be one of them
  for (size_t i = 0; i < ens.images.size(); ++i) {
    ASSERT_EQ(ens.images[i], single[0].images[i]);
    for (size_t k = 0; k < 2; ++k) {
      const double mean = (single[0].probability[i][k] + single[1].probability[i][k] +
                           single[2].probability[i][k]) /
                          3;
      EXPECT_NEAR(ens.probability[i][k], mean, 1e-8) << ens.images[i];
      largest_gap = std::max(largest_gap,
                             std::fabs(single[0].probability[i][k] - single[1].probability[i][k]));
    }
  }
  EXPECT_GT(largest_gap, 1e-3) << "the folds' models must differ for the mean to mean anything";
  const nlohmann::json rep =
      nlohmann::json::parse(read_file((root / "ensemble_report.json").string()));
  EXPECT_EQ(rep.at("models").size(), 3u);

  // Models that classify differently are refused, naming both folders and the difference.
  const fs::path other = root / "other";
  fs::copy(root / "cv" / "fold_1" / "best", other, fs::copy_options::recursive);
  ModelInfo info = load_model_info((other / "model.json").string());
  std::swap(info.labels[0], info.labels[1]);
  write_file_atomic((other / "model.json").string(), to_json_string(info) + "\n");
  c = run_useg("classify --model " + quote(root / "cv" / "fold_0" / "best") + " --model " +
               quote(other) + " --input " + quote(data) + " --recursive --output " +
               quote(root / "bad.csv"));
  EXPECT_NE(c.code, 0);
  EXPECT_NE(c.output.find("models " + (root / "cv" / "fold_0" / "best").string() + " and " +
                          other.string() + " cannot be ensembled"),
            std::string::npos)
      << c.output;
  EXPECT_NE(c.output.find("labels [disc, square] vs [square, disc]"), std::string::npos)
      << c.output;
}

}  // namespace
}  // namespace useg
