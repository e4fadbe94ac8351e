// `useg train` as users run it: errors exit with code 2 and a message naming what to fix.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "common/csv.h"
#include "common/image_fixtures.h"
#include "common/subprocess.h"
#include "common/train_fixtures.h"
#include "core/files.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

struct CliRun {
  int code;
  std::string output;
};

CliRun run_train(const fs::path& root, const std::vector<std::string>& args) {
  std::vector<std::string> a{USEG_BINARY, "train"};
  a.insert(a.end(), args.begin(), args.end());
  fs::path log = root / "cli.log";
  fs::remove(log);
  int code = test::run_command(a, log.string());
  return {code, fs::exists(log) ? read_file(log.string()) : ""};
}

fs::path cli_dataset(const fs::path& root) {
  test::BlobDataset b;
  b.cases = 3;
  b.size = 16;
  b.radius_min = 3;
  b.radius_max = 4;
  test::write_blob_dataset(root / "data", b);
  test::write_text(root / "config.json", to_json_string(test::tiny_run(2)));
  return root / "data";
}

TEST(TrainCli, DatasetProblemsExitWithCode2) {
  fs::path root = test::fresh_dir("train_cli_dataset");
  fs::path data = cli_dataset(root);
  fs::remove(data / "labelsTr" / "blob_001.nii.gz");
  CliRun r = run_train(root, {"--config", (root / "config.json").string(), "--data", data.string(),
                              "--output", (root / "run").string()});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("useg: error: dataset " + data.string() + ": 1 problem(s):\n"
                          "  - case blob_001: missing label labelsTr/blob_001.nii.gz"),
            std::string::npos)
      << r.output;
}

TEST(TrainCli, UsageErrors) {
  fs::path root = test::fresh_dir("train_cli_usage");
  fs::path data = cli_dataset(root);
  CliRun r = run_train(root, {"--data", data.string(), "--output", (root / "run").string()});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("--config is required for a new run"), std::string::npos) << r.output;

  r = run_train(root, {"--resume", "--data", data.string(), "--output", (root / "run").string()});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("has no checkpoint.safetensors to resume from"), std::string::npos)
      << r.output;

  test::write_text(root / "bad.json", "{\"model\": {}, \"train\": {\"patch_sise\": [16, 16]}}");
  r = run_train(root, {"--config", (root / "bad.json").string(), "--data", data.string(),
                       "--output", (root / "run").string()});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("unknown key 'train.patch_sise' (did you mean 'patch_size'?"),
            std::string::npos)
      << r.output;
}

TEST(TrainCli, UnavailableDeviceFailsBeforeLoading) {
  std::string why;
  if (device_available(Device::CUDA, &why)) GTEST_SKIP() << "a CUDA device is present";
  fs::path root = test::fresh_dir("train_cli_device");
  fs::path data = cli_dataset(root);
  CliRun r = run_train(root, {"--config", (root / "config.json").string(), "--data", data.string(),
                              "--output", (root / "run").string(), "--device", "cuda"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("useg: error: " + why), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("preprocessed"), std::string::npos) << "loaded data first: " << r.output;
}

TEST(TrainCli, HalfPrecisionOnTheCpuIsRefusedBeforeLoading) {
  fs::path root = test::fresh_dir("train_cli_precision");
  fs::path data = cli_dataset(root);
  CliRun r = run_train(root, {"--config", (root / "config.json").string(), "--data", data.string(),
                              "--output", (root / "run").string(), "--precision", "fp16"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("useg: error: precision fp16 needs --device cuda: the CPU backend "
                          "computes in float32 (expected fp32)"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("preprocessed"), std::string::npos) << "loaded data first: " << r.output;
  CliRun bad = run_train(root, {"--config", (root / "config.json").string(), "--data",
                                data.string(), "--output", (root / "run").string(), "--precision",
                                "fp8"});
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.output.find("--precision: fp8 not in {fp32,tf32,fp16,bf16}"), std::string::npos)
      << bad.output;
}

// The user's path from training to a score: the validation Dice that `useg train` logs for its
// best epoch equals the Dice that `useg eval` gives for `useg segment --model RUN/best` on the
// same validation case (same windows, overlap 0.5, window batch = the training batch size).
TEST(TrainCli, ValidationDiceEqualsSegmentThenEval) {
  fs::path root = test::fresh_dir("train_cli_val_eval");
  test::BlobDataset b;
  b.cases = 4;
  b.size = 48;
  b.radius_min = 6;
  b.radius_max = 10;
  test::write_blob_dataset(root / "data", b);
  RunConfig rc = test::tiny_run(2);
  rc.train.epochs = 3;
  rc.train.iterations_per_epoch = 4;
  rc.train.val_cases = {"blob_002"};
  test::write_text(root / "config.json", to_json_string(rc));
  CliRun t = run_train(root, {"--config", (root / "config.json").string(), "--data",
                              (root / "data").string(), "--output", (root / "run").string(),
                              "--threads", "1"});
  ASSERT_EQ(t.code, 0) << t.output;

  const auto metrics = test::parse_csv(read_file((root / "run" / "metrics.csv").string()));
  ASSERT_FALSE(metrics.empty());
  double best = -1;
  for (const test::CsvRow& row : metrics)
    if (!row.at("mean_fg_dice").empty()) best = std::max(best, std::stod(row.at("mean_fg_dice")));
  ASSERT_GT(best, 0.1) << "no (or a trivial) validation Dice in metrics.csv";

  std::vector<std::string> seg{USEG_BINARY, "segment", "--model", (root / "run" / "best").string(),
                               "--input", (root / "data" / "imagesTr" / "blob_002_0000.nii.gz").string(),
                               "--output", (root / "seg").string(), "--batch",
                               std::to_string(rc.train.batch_size), "--threads", "1"};
  ASSERT_EQ(test::run_command(seg, (root / "seg.log").string()), 0)
      << read_file((root / "seg.log").string());
  const fs::path pred = root / "seg" / "blob_002.nii.gz";
  ASSERT_TRUE(fs::exists(pred)) << "segment output named after the case";
  std::vector<std::string> ev{USEG_BINARY, "eval", "--pred", pred.string(), "--ref",
                              (root / "data" / "labelsTr" / "blob_002.nii.gz").string(),
                              "--labels", "1", "--output", (root / "eval.csv").string()};
  ASSERT_EQ(test::run_command(ev, (root / "eval.log").string()), 0)
      << read_file((root / "eval.log").string());
  const auto eval = test::parse_csv(read_file((root / "eval.csv").string()));
  ASSERT_FALSE(eval.empty());
  ASSERT_EQ(eval[0].at("case"), "blob_002");
  EXPECT_NEAR(std::stod(eval[0].at("dice")), best, 1e-5)
      << "validation Dice of the best epoch vs useg eval of useg segment with best/";
}

}  // namespace
}  // namespace useg
