// The final validation of a segmentation run (src/train/final_validation.h):
// when `useg train` finishes, RUN/validation/ must hold exactly what `useg
// segment --model RUN/best --postprocess none` writes for each validation case
// (in dataset.json's label values), its summary.json must hold what `useg eval`
// computes from those files (independent code path: files read back), and
// find-postprocess must score these files — only while best/ is what made them.
// A finished run resumed without its summary (a run killed during the final
// validation) does it again.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/expect_error.h"
#include "common/image_fixtures.h"
#include "common/train_fixtures.h"
#include "core/files.h"
#include "segment_test_util.h"
#include "train/checkpoint.h"
#include "useg/config.h"
#include "useg/image.h"
#include "useg/train.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

using test::quote;
using test::run_useg;

// A blob dataset whose blob has the label value 5 (dataset.json: "blob": 5), so
// that the written labels (values) and the network's classes (indices) differ.
struct Trained {
  fs::path root, data, run;
  std::vector<std::string> val;
  std::vector<std::string> log;
};

Trained train_blobs(const std::string& name, bool tta, bool final_validation = true) {
  Trained t;
  t.root = test::fresh_dir(name);
  t.data = t.root / "data";
  t.run = t.root / "run";
  test::BlobDataset b;
  b.cases = 6;
  b.size = 48;
  b.noise = 0.6;
  b.label_value = 5;
  test::write_blob_dataset(t.data, b);
  RunConfig run = test::tiny_run(2);
  run.train.epochs = 2;
  run.train.iterations_per_epoch = 4;
  run.train.val_fraction = 0.34;
  run.train.final_validation = final_validation;
  run.inference.tta = tta;
  TrainOptions o = test::quiet_train_options(t.data, t.run, run);
  auto* log = &t.log;
  o.log = [log](const std::string& line) { log->push_back(line); };
  const TrainResult r = train(o);
  EXPECT_EQ(r.status, TrainResult::Status::Completed);
  t.val = training::read_checkpoint((t.run / "checkpoint.safetensors").string()).val_cases;
  return t;
}

bool logged(const std::vector<std::string>& log, const std::string& part) {
  for (const std::string& line : log)
    if (line.find(part) != std::string::npos) return true;
  return false;
}

double summary_dice(const nlohmann::json& j, int label) {
  for (const auto& row : j.at("summary"))
    if (row.at("label") == label) return row.at("dice").get<double>();
  ADD_FAILURE() << "no summary row for label " << label << ": " << j.dump();
  return -1;
}

TEST(FinalValidation, HoldsWhatSegmentAndEvalGive) {
  const Trained t = train_blobs("final_validation", /*tta=*/true);
  ASSERT_EQ(t.val.size(), 2u);
  EXPECT_TRUE(logged(t.log, "final validation: 2 case(s) segmented by " +
                                (t.run / "best").string() + " (mirrored)"));
  const fs::path seg = t.root / "seg";
  for (const std::string& c : t.val) {
    SCOPED_TRACE(c);
    const fs::path image = t.data / "imagesTr" / (c + "_0000.nii.gz");
    auto s = run_useg("segment --model " + quote(t.run / "best") + " --input " + quote(image) +
                      " --output " + quote(seg) + " --postprocess none --threads 1");
    ASSERT_EQ(s.code, 0) << s.output;
    const Image mine = read_image((t.run / "validation" / (c + ".nii.gz")).string());
    const Image theirs = read_image((seg / (c + ".nii.gz")).string());
    const Image input = read_image(image.string());
    EXPECT_EQ(mine.geometry.size, input.geometry.size);
    EXPECT_EQ(mine.geometry.spacing, input.geometry.spacing);
    EXPECT_EQ(mine.geometry.origin, input.geometry.origin);
    ASSERT_EQ(mine.voxels.numel(), theirs.voxels.numel());
    int64_t differ = 0, blob = 0;
    for (int64_t i = 0; i < mine.voxels.numel(); ++i) {
      differ += mine.voxels.data()[i] != 5.f * theirs.voxels.data()[i];
      blob += mine.voxels.data()[i] == 5.f;
    }
    EXPECT_EQ(differ, 0) << "segment's class 1 is the dataset's value 5, "
                            "mirrored as segment does";
    EXPECT_GT(blob, 0);
  }
  // summary.json: eval's report of the same files against labelsTr, and what
  // made them.
  const nlohmann::json j =
      nlohmann::json::parse(read_file((t.run / "validation" / "summary.json").string()));
  const fs::path ref = t.root / "ref";
  fs::create_directories(ref);
  for (const std::string& c : t.val)
    fs::copy_file(t.data / "labelsTr" / (c + ".nii.gz"), ref / (c + ".nii.gz"));
  auto e = run_useg("eval --pred " + quote(t.run / "validation") + " --ref " + quote(ref) +
                    " --labels 5 --json " + quote(t.root / "eval.json"));
  ASSERT_EQ(e.code, 0) << e.output;
  const nlohmann::json ev = nlohmann::json::parse(read_file((t.root / "eval.json").string()));
  EXPECT_EQ(j.at("format"), "useg-eval-1");
  ASSERT_EQ(j.at("cases").size(), 2u);
  EXPECT_EQ(j.at("summary"), ev.at("summary")) << j.dump(1) << ev.dump(1);
  for (size_t i = 0; i < 2; ++i) EXPECT_EQ(j["cases"][i]["rows"], ev["cases"][i]["rows"]);
  EXPECT_GT(summary_dice(j, 5), 0.3);
  const ModelInfo best = load_model_info((t.run / "best" / "model.json").string());
  EXPECT_EQ(j.at("model"), nlohmann::json({{"folder", "best"},
                                           {"trained_epochs", best.provenance.at("trained_epochs")},
                                           {"test_time_mirroring", true},
                                           {"postprocess", nlohmann::json::array()}}));
}

TEST(FinalValidation, FindPostprocessScoresItsFilesWhileBestMadeThem) {
  const Trained t = train_blobs("final_validation_reuse", /*tta=*/false);
  const std::string args = "find-postprocess --run " + quote(t.run) + " --data " + quote(t.data) +
                           " --threads 1 --output " + quote(t.root / "pp.json");
  auto r = run_useg(args);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("run: 2 validation case(s), the labels of its final validation"),
            std::string::npos)
      << r.output;
  const nlohmann::json before = nlohmann::json::parse(read_file((t.root / "pp.json").string()));
  const double none = before["candidates"][0]["mean_fg_dice"].get<double>();
  const nlohmann::json summary =
      nlohmann::json::parse(read_file((t.run / "validation" / "summary.json").string()));
  EXPECT_NEAR(none, summary_dice(summary, 5), 1e-9) << "none is the final validation's Dice";

  // The files are what it scores: a case emptied by hand scores 0 there.
  const fs::path first = t.run / "validation" / (t.val[0] + ".nii.gz");
  const std::string kept = read_file(first.string());
  Image img = read_image(first.string());
  std::fill(img.voxels.data(), img.voxels.data() + img.voxels.numel(), 0.f);
  write_image(first.string(), img.voxels, img.geometry, "uint8");
  r = run_useg(args);
  ASSERT_EQ(r.code, 0) << r.output;
  nlohmann::json j = nlohmann::json::parse(read_file((t.root / "pp.json").string()));
  EXPECT_EQ(j["candidates"][0]["case_fg_dice"][0].get<double>(), 0.0);
  EXPECT_EQ(j["candidates"][0]["case_fg_dice"][1], before["candidates"][0]["case_fg_dice"][1]);

  // best/ mirroring now: those files are not what it would predict, so it
  // segments again.
  ModelInfo best = load_model_info((t.run / "best" / "model.json").string());
  best.inference.tta = true;
  write_file_atomic((t.run / "best" / "model.json").string(), to_json_string(best));
  r = run_useg(args);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("segmented with " + (t.run / "best").string() +
                          " (test-time mirroring, the model's default) (" +
                          (t.run / "validation" / "summary.json").string() +
                          " was made without test-time mirroring, "
                          "best/model.json now says on)"),
            std::string::npos)
      << r.output;
  j = nlohmann::json::parse(read_file((t.root / "pp.json").string()));
  EXPECT_GT(j["candidates"][0]["case_fg_dice"][0].get<double>(), 0.3) << "segmented, not read";

  // Weights of another epoch, or no summary: segmented again, saying why.
  best.inference.tta = false;
  best.provenance["trained_epochs"] = "1";
  write_file_atomic((t.run / "best" / "model.json").string(), to_json_string(best));
  r = run_useg(args);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("was made by the weights of epoch 2, best/ now holds epoch 1's"),
            std::string::npos)
      << r.output;
  write_file_atomic(first.string(), kept);
  fs::remove(t.run / "validation" / "summary.json");
  r = run_useg(args);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find((t.run / "validation" / "summary.json").string() + " is absent"),
            std::string::npos)
      << r.output;
}

TEST(FinalValidation, ResumeOfAFinishedRunRedoesOnlyAMissingSummary) {
  const Trained t = train_blobs("final_validation_resume", /*tta=*/false);
  const fs::path summary = t.run / "validation" / "summary.json";
  // The summary without its timings.
  auto figures = [&summary] {
    nlohmann::json j = nlohmann::json::parse(read_file(summary.string()));
    for (auto& c : j.at("cases")) c.erase("seconds");
    return j;
  };
  const nlohmann::json first = figures();
  TrainOptions o = test::quiet_train_options(t.data, t.run, RunConfig{});
  o.config.reset();
  o.resume = true;
  std::vector<std::string> log;
  o.log = [&log](const std::string& line) { log.push_back(line); };
  // A complete final validation: nothing to do.
  fs::remove(t.run / "validation" / (t.val[1] + ".nii.gz"));
  EXPECT_EQ(train(o).status, TrainResult::Status::Completed);
  EXPECT_FALSE(logged(log, "final validation:"));
  EXPECT_FALSE(fs::exists(t.run / "validation" / (t.val[1] + ".nii.gz")));
  // A run killed during it leaves no summary.json: resuming does it again,
  // whole.
  fs::remove(summary);
  log.clear();
  EXPECT_EQ(train(o).status, TrainResult::Status::Completed);
  EXPECT_TRUE(logged(log, "final validation: 2 case(s)"));
  EXPECT_TRUE(fs::exists(t.run / "validation" / (t.val[1] + ".nii.gz")));
  EXPECT_EQ(figures(), first) << "the same weights, the same figures";
}

TEST(FinalValidation, OffInTheConfigWritesNothing) {
  const Trained t = train_blobs("final_validation_off", /*tta=*/false, /*final=*/false);
  EXPECT_TRUE(fs::exists(t.run / "best" / "model.json"));
  EXPECT_FALSE(fs::exists(t.run / "validation"));
  EXPECT_FALSE(logged(t.log, "final validation"));
  const std::string e = test::error_of([] {
    parse_run_config(R"({"model": {"dims": 2}, "train": {"patch_size": [32, 32],
                         "final_validation": "yes"}})",
                     "run.json");
  });
  EXPECT_HAS(e, "run.json: train.final_validation: expected a boolean");
}

}  // namespace
}  // namespace useg
