// `useg train` as users run it: errors exit with code 2 and a message naming what to fix.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/image_fixtures.h"
#include "common/subprocess.h"
#include "common/train_fixtures.h"
#include "useg/files.h"

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

}  // namespace
}  // namespace useg
