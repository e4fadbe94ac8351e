// `useg find-postprocess` (src/train/postprocess_search.h): a 2-fold cross-validation of a tiny,
// briefly trained network on noisy blobs (so its labels hold specks a postprocessing can remove);
// the search's Dice of every candidate must equal what `useg segment --postprocess STEPS` on each
// fold's validation cases scored by `useg eval` gives (independent code: files written and read
// back, eval's metrics), its choice must be the best candidate that beats none, --apply must
// write it into every fold's model.json, and `useg segment --model RUN` must then run it.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/train_fixtures.h"
#include "core/files.h"
#include "segment_test_util.h"
#include "train/checkpoint.h"
#include "train/postprocess_search.h"
#include "useg/config.h"
#include "useg/image.h"
#include "useg/train.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

using test::quote;
using test::run_useg;

void train_fold(const fs::path& data, const fs::path& out, int fold) {
  RunConfig run = test::tiny_run(2);
  run.train.epochs = 2;
  run.train.iterations_per_epoch = 4;
  run.train.fold = fold;
  run.train.folds = 2;
  train(test::quiet_train_options(data, out, run));
}

std::string steps_arg(const nlohmann::json& steps) {
  std::string s;
  for (const auto& x : steps) s += (s.empty() ? "" : ",") + x.get<std::string>();
  return s.empty() ? "none" : s;
}

TEST(FindPostprocess, ScoresCandidatesLikeSegmentAndEvalAndApplies) {
  fs::path root = test::fresh_dir("find_postprocess");
  test::BlobDataset b;
  b.cases = 6;
  b.size = 48;
  b.noise = 0.6;
  test::write_blob_dataset(root / "data", b);
  for (int k = 0; k < 2; ++k)
    train_fold(root / "data", root / "cv" / ("fold_" + std::to_string(k)), k);

  auto r = run_useg("find-postprocess --run " + quote(root / "cv") + " --data " +
                    quote(root / "data") + " --threads 1");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("fold_0: 3 validation case(s)"), std::string::npos) << r.output;
  const nlohmann::json j =
      nlohmann::json::parse(read_file((root / "cv" / "postprocess.json").string()));
  ASSERT_EQ(j.at("cases").size(), 6u) << j.dump();
  ASSERT_EQ(j.at("candidates").size(), 4u);
  EXPECT_EQ(j.at("classes"), nlohmann::json({"background", "blob"}));

  // The same figures from files: each fold's validation cases segmented by its best/ model with
  // the candidate's steps, scored by useg eval against labelsTr.
  fs::create_directories(root / "ref");
  std::vector<std::vector<std::string>> val(2);
  for (int k = 0; k < 2; ++k) {
    const fs::path run = root / "cv" / ("fold_" + std::to_string(k));
    val[size_t(k)] = training::read_checkpoint((run / "checkpoint.safetensors").string()).val_cases;
    for (const std::string& c : val[size_t(k)])
      fs::copy_file(root / "data" / "labelsTr" / (c + ".nii.gz"), root / "ref" / (c + ".nii.gz"));
  }
  double best = -1, none = -1;
  std::string best_steps;
  for (size_t c = 0; c < 4; ++c) {
    const nlohmann::json& cand = j["candidates"][c];
    const std::string steps = steps_arg(cand["steps"]);
    const fs::path seg = root / ("seg_" + std::to_string(c));
    for (int k = 0; k < 2; ++k) {
      std::string inputs;
      for (const std::string& name : val[size_t(k)])
        inputs += " " + quote(root / "data" / "imagesTr" / (name + "_0000.nii.gz"));
      auto s =
          run_useg("segment --model " +
                   quote(root / "cv" / ("fold_" + std::to_string(k)) / "best") + " --input" +
                   inputs + " --output " + quote(seg) + " --postprocess " + steps + " --threads 1");
      ASSERT_EQ(s.code, 0) << s.output;
    }
    auto e = run_useg("eval --pred " + quote(seg) + " --ref " + quote(root / "ref") +
                      " --labels 1 --json " + quote(seg / "m.json"));
    ASSERT_EQ(e.code, 0) << e.output;
    const nlohmann::json m = nlohmann::json::parse(read_file((seg / "m.json").string()));
    double dice = -1;
    for (const auto& row : m.at("summary"))
      if (row.at("label") == 1) dice = row.at("dice").get<double>();
    SCOPED_TRACE(steps);
    EXPECT_NEAR(cand["mean_fg_dice"].get<double>(), dice, 1e-9);
    EXPECT_NEAR(cand["class_dice"]["blob"].get<double>(), dice, 1e-9);
    ASSERT_EQ(cand["case_fg_dice"].size(), 6u);
    double sum = 0;
    for (const auto& d : cand["case_fg_dice"]) sum += d.get<double>();
    EXPECT_NEAR(sum / 6, dice, 1e-9);
    EXPECT_LE(cand["cases_better"].get<int>() + cand["cases_worse"].get<int>(), 6);
    if (c == 0) none = dice;
    if (dice > best + 1e-12) best = dice, best_steps = steps;
  }
  // The choice: the best candidate when it beats none (this run's specks make it so).
  ASSERT_GT(best, none + 1e-6) << "the setup must give a postprocessing worth choosing";
  EXPECT_EQ(steps_arg(j["chosen"]), best_steps);
  EXPECT_NE(r.output.find("<- chosen"), std::string::npos) << r.output;

  // --apply reads every model.json before writing any: a broken one stops it with nothing written.
  const fs::path last1 = root / "cv" / "fold_1" / "last" / "model.json";
  const std::string kept = read_file(last1.string());
  test::write_text(last1, "{\"format_version\": 7}");
  r = run_useg("find-postprocess --run " + quote(root / "cv") + " --data " + quote(root / "data") +
               " --threads 1 --apply --output " + quote(root / "pp.json"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find(last1.string()), std::string::npos) << r.output;
  EXPECT_TRUE(load_model_info((root / "cv" / "fold_0" / "best" / "model.json").string())
                  .inference.postprocess.empty());
  test::write_text(last1, kept);

  // --apply writes it into every fold's best/ and last/ model.json; segment then runs it.
  r = run_useg("find-postprocess --run " + quote(root / "cv") + " --data " + quote(root / "data") +
               " --threads 1 --apply --output " + quote(root / "pp.json"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(read_file((root / "pp.json").string()),
            read_file((root / "cv" / "postprocess.json").string()))
      << "deterministic";
  for (int k = 0; k < 2; ++k)
    for (const char* sub : {"best", "last"}) {
      const fs::path f = root / "cv" / ("fold_" + std::to_string(k)) / sub / "model.json";
      EXPECT_EQ(load_model_info(f.string()).inference.postprocess,
                j["chosen"].get<std::vector<std::string>>())
          << f;
    }
  auto s = run_useg("segment --model " + quote(root / "cv" / "fold_0" / "best") + " --input " +
                    quote(root / "data" / "imagesTr" / (val[0][0] + "_0000.nii.gz")) +
                    " --output " + quote(root / "applied") + " --threads 1");
  ASSERT_EQ(s.code, 0) << s.output;
  std::string shown = best_steps;  // the log lists the steps separated by ", "
  for (size_t p = shown.find(','); p != std::string::npos; p = shown.find(',', p + 2))
    shown.replace(p, 1, ", ");
  EXPECT_NE(s.output.find("postprocess: " + shown + " (model.json inference.postprocess;"),
            std::string::npos)
      << s.output;
}

// The scoring alone, on labels made by hand: class 1 is one box predicted with a stray speck
// (`largest` helps it), class 2 is two boxes predicted exactly (`largest` removes a true one), so
// the choice is largest=1, found by the per-class rule; every Dice is counted by hand.
TEST(FindPostprocess, LargestIsChosenClassByClass) {
  Geometry g;
  g.dims = 2;
  g.size = {20, 12, 1};
  ScoredCase c;
  c.name = "hand";
  c.geometry = g;
  c.ref.assign(20 * 12, 0);
  auto box = [&](std::vector<uint8_t>& v, uint8_t k, int x0, int x1, int y0, int y1) {
    for (int y = y0; y <= y1; ++y)
      for (int x = x0; x <= x1; ++x) v[size_t(y * 20 + x)] = k;
  };
  box(c.ref, 1, 1, 6, 1, 5);     // 30 pixels
  box(c.ref, 2, 10, 13, 1, 4);   // 16 pixels
  box(c.ref, 2, 16, 17, 8, 10);  // 6 pixels
  c.pred = c.ref;
  box(c.pred, 1, 9, 10, 9, 10);  // a 4-pixel speck of class 1
  const PostprocessSearch s = score_postprocess({c}, {"background", "organ", "vessel"});
  ASSERT_EQ(s.candidates.size(), 8u);
  const double d1_none = 2.0 * 30 / (30 + 34), d2_largest = 2.0 * 16 / (16 + 22);
  struct Want {
    std::vector<std::string> steps;
    double d1, d2;
  };
  const std::vector<Want> want = {{{}, d1_none, 1},
                                  {{"largest"}, 1, d2_largest},
                                  {{"fill-holes"}, d1_none, 1},
                                  {{"largest", "fill-holes"}, 1, d2_largest},
                                  {{"largest=1"}, 1, 1},
                                  {{"largest=1", "fill-holes"}, 1, 1},
                                  // The foreground as one: its largest component is class 1's
                                  // box (30 pixels), so both class 2 boxes go.
                                  {{"largest-foreground"}, 1, 0},
                                  {{"largest-foreground", "fill-holes"}, 1, 0}};
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(s.candidates[i].steps, want[i].steps);
    ASSERT_EQ(s.candidates[i].class_dice.size(), 2u);
    EXPECT_NEAR(s.candidates[i].class_dice[0], want[i].d1, 1e-12);
    EXPECT_NEAR(s.candidates[i].class_dice[1], want[i].d2, 1e-12);
    EXPECT_NEAR(s.candidates[i].mean_fg_dice, (want[i].d1 + want[i].d2) / 2, 1e-12);
    ASSERT_EQ(s.candidates[i].case_fg_dice.size(), 1u);
    EXPECT_NEAR(s.candidates[i].case_fg_dice[0], s.candidates[i].mean_fg_dice, 1e-12);
    // One case: better when its mean beats none's (0.9688), worse when below (largest: 0.9211).
    const double mean = (want[i].d1 + want[i].d2) / 2, base = (d1_none + 1) / 2;
    EXPECT_EQ(s.candidates[i].better, mean > base + 1e-12 ? 1 : 0);
    EXPECT_EQ(s.candidates[i].worse, mean < base - 1e-12 ? 1 : 0);
  }
  EXPECT_EQ(s.candidates[1].worse, 1);
  EXPECT_EQ(s.candidates[4].better, 1);
  EXPECT_EQ(s.chosen, 4u) << "largest=1 (the tie with largest=1,fill-holes keeps fewer steps)";

  // Nothing helps labels that are already right: none stays.
  c.pred = c.ref;
  EXPECT_EQ(score_postprocess({c}, {"background", "organ", "vessel"}).chosen, 0u);
}

TEST(FindPostprocess, ErrorsNameTheRunOrFolder) {
  fs::path root = test::fresh_dir("find_postprocess_errors");
  test::BlobDataset b;
  b.cases = 4;
  b.size = 32;
  test::write_blob_dataset(root / "data", b);
  fs::create_directories(root / "empty");
  auto r = run_useg("find-postprocess --run " + quote(root / "empty") + " --data " +
                    quote(root / "data"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(
      r.output.find(root.string() + "/empty is not a training run (no "
                                    "checkpoint.safetensors) and holds no fold_K run folders"),
      std::string::npos)
      << r.output;
  // A run trained without validation cases.
  RunConfig run = test::tiny_run(2);
  run.train.epochs = 1;
  run.train.iterations_per_epoch = 1;
  run.train.val_fraction = 0;
  train(test::quiet_train_options(root / "data", root / "noval", run));
  r = run_useg("find-postprocess --run " + quote(root / "noval") + " --data " +
               quote(root / "data"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("noval has no validation cases"), std::string::npos) << r.output;
  // A run with validation cases, against datasets that do not fit it.
  run.train.val_fraction = 0.25;
  train(test::quiet_train_options(root / "data", root / "run", run));
  const std::string val =
      training::read_checkpoint((root / "run" / "checkpoint.safetensors").string()).val_cases.at(0);
  fs::copy(root / "data", root / "renamed", fs::copy_options::recursive);
  std::string json = read_file((root / "renamed" / "dataset.json").string());
  json.replace(json.find("\"blob\""), 6, "\"tumour\"");
  test::write_text(root / "renamed" / "dataset.json", json);
  r = run_useg("find-postprocess --run " + quote(root / "run") + " --data " +
               quote(root / "renamed"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(
      r.output.find("best's labels differ from " + (root / "renamed").string() + "/dataset.json's"),
      std::string::npos)
      << r.output;
  fs::copy(root / "data", root / "badvalue", fs::copy_options::recursive);
  const fs::path label = root / "badvalue" / "labelsTr" / (val + ".nii.gz");
  Image lab = read_image(label.string());
  lab.voxels.data()[0] = 5;
  write_image(label.string(), lab.voxels, lab.geometry, "uint8");
  r = run_useg("find-postprocess --run " + quote(root / "run") + " --data " +
               quote(root / "badvalue"));
  EXPECT_NE(r.code, 0);
  // The trainer's check and message (map_labels), naming the file.
  EXPECT_NE(r.output.find(label.string() + ": case " + val + ": label values not declared in "
                                           "dataset.json: 5 (1 voxels); declared: background=0, "
                                           "blob=1"),
            std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace useg
