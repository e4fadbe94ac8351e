// `useg init` and `useg info` through the real binary.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/run_cli.h"
#include "useg/backend.h"
#include "useg/config.h"
#include "useg/model.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

TEST(CliModel, InitThenInfoAndLoad) {
  fs::path dir = fs::temp_directory_path() / "useg_cli_model";
  fs::remove_all(dir);
  std::string cfg = std::string(USEG_SOURCE_DIR) + "/configs/tiny2d_test.json";
  auto init = test::run_useg("init --config " + cfg + " --output " + dir.string() + " --seed 3");
  ASSERT_EQ(init.status, 0) << init.output;
  EXPECT_TRUE(fs::exists(dir / "model.json"));
  EXPECT_TRUE(fs::exists(dir / "weights.safetensors"));
  auto info = test::run_useg("info " + dir.string());
  ASSERT_EQ(info.status, 0) << info.output;
  auto be = make_backend(Device::CPU);
  LoadedModel m = load_model_dir(dir.string(), *be);
  EXPECT_NE(info.output.find("parameters: " + std::to_string(m.net->num_parameters())),
            std::string::npos)
      << info.output;
  EXPECT_NE(info.output.find("receptive field: 44x44 voxels"), std::string::npos) << info.output;
  EXPECT_NE(info.output.find("initialized: He (Kaiming normal), seed 3"), std::string::npos);
  EXPECT_NE(info.output.find("segment: test-time mirroring off (inference.tta; --tta turns it on)"),
            std::string::npos) << info.output;
  // The same seed gives the same weights; another seed different ones.
  fs::path dir2 = dir.string() + "_b";
  ASSERT_EQ(test::run_useg("init --config " + cfg + " --output " + dir2.string() + " --seed 3").status, 0);
  auto w1 = m.net->state_dict();
  auto w2 = load_model_dir(dir2.string(), *be).net->state_dict();
  EXPECT_EQ(w1[0].second.to_vector(), w2[0].second.to_vector());
  fs::remove_all(dir2);
}

TEST(CliModel, InfoOnAConfigAndErrors) {
  std::string cfg = std::string(USEG_SOURCE_DIR) + "/configs/unet2d_nuclei.json";
  auto r = test::run_useg("info " + cfg);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("U-Net 2D"), std::string::npos) << r.output;
  auto missing = test::run_useg("info /nonexistent/model");
  EXPECT_EQ(missing.status, 2);
  EXPECT_NE(missing.output.find("/nonexistent/model does not exist"), std::string::npos)
      << missing.output;
  // init copies a training config's inference section into model.json; info shows it (also
  // straight from the config).
  const std::string nuclei = std::string(USEG_SOURCE_DIR) + "/configs/nuclei2d_default.json";
  r = test::run_useg("info " + nuclei);
  EXPECT_NE(r.output.find("segment: test-time mirroring on (inference.tta; --no-tta turns it off)"),
            std::string::npos) << r.output;
  fs::path dir = fs::temp_directory_path() / "useg_cli_model_tta";
  fs::remove_all(dir);
  ASSERT_EQ(test::run_useg("init --config " + nuclei + " --output " + dir.string()).status, 0);
  EXPECT_TRUE(load_model_info((dir / "model.json").string()).inference.tta);
  fs::remove_all(dir);
  auto usage = test::run_useg("init --config " + cfg);
  EXPECT_EQ(usage.status, 2) << usage.output;
  EXPECT_NE(usage.output.find("--output is required"), std::string::npos) << usage.output;
}

}  // namespace
}  // namespace useg
