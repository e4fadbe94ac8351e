// `useg ensemble` (src/infer/prob_ensemble.h): separate `useg segment --save-probabilities` runs
// of models that segment cannot ensemble in one run (another patch size) averaged into labels;
// checked against the mean and argmax computed here from the runs' files, against segment's own
// sliding-window ensemble where both apply, and for its errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <tuple>

#include "common/train_fixtures.h"
#include "core/files.h"
#include "segment_test_util.h"
#include "useg/image.h"
#include "useg/segment.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

using test::quote;
using test::run_useg;

Image read(const fs::path& p) { return read_image(p.string()); }

TEST(ProbabilityEnsemble, AveragesSeparateRunsIntoLabels) {
  const fs::path root = test::fresh_dir("prob_ensemble");
  // Three untrained models: a and a2 with 32x32 windows, b with 48x48 (segment refuses a + b).
  const std::string cfg =
      read_file((fs::path(USEG_SOURCE_DIR) / "configs/tiny2d_test.json").string());
  test::write_text(root / "b.json", std::string(cfg).replace(cfg.find("[32, 32]"), 8, "[48, 48]"));
  for (const auto& [name, config, seed] :
       {std::tuple<std::string, std::string, int>{"a", "configs/tiny2d_test.json", 1},
        {"a2", "configs/tiny2d_test.json", 3},
        {"b", (root / "b.json").string(), 2}}) {
    const fs::path c =
        fs::path(config).is_absolute() ? fs::path(config) : fs::path(USEG_SOURCE_DIR) / config;
    auto r = run_useg("init --config " + quote(c) + " --output " + quote(root / name) + " --seed " +
                      std::to_string(seed));
    ASSERT_EQ(r.code, 0) << r.output;
  }
  // Two images with their own spacing and origin.
  std::mt19937 gen(4);
  std::normal_distribution<float> n(0, 1);
  fs::create_directories(root / "in");
  for (int c = 0; c < 2; ++c) {
    Geometry g;
    g.dims = 2;
    g.size = {50 + 7 * c, 41, 1};
    g.spacing = {0.5, 0.8, 1};
    g.origin = {10.0 * c, -3, 0};
    Tensor t = Tensor::empty(Shape{1, 1, 1, g.size[1], g.size[0]});
    for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = n(gen);
    write_image((root / "in" / ("case" + std::to_string(c) + ".nii.gz")).string(), t, g, "float");
  }
  auto seg = [&](const std::string& models, const std::string& out) {
    auto r = run_useg("segment " + models + " --input " + quote(root / "in") + " --output " +
                      quote(root / out) + " --save-probabilities --threads 1");
    ASSERT_EQ(r.code, 0) << r.output;
  };
  seg("--model " + quote(root / "a"), "sa");
  seg("--model " + quote(root / "a2"), "sa2");
  seg("--model " + quote(root / "b"), "sb");
  seg("--model " + quote(root / "a") + " --model " + quote(root / "a2"), "sw");

  auto r = run_useg("ensemble --input " + quote(root / "sa") + " --input " + quote(root / "sb") +
                    " --output " + quote(root / "e") + " --save-probabilities");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("ensembled 2 case(s) of 2 runs"), std::string::npos) << r.output;
  int64_t changed = 0;  // voxels where the ensemble's class differs from a's alone
  for (int c = 0; c < 2; ++c) {
    const std::string name = "case" + std::to_string(c);
    const Image in = read(root / "in" / (name + ".nii.gz"));
    const Image labels = read(root / "e" / (name + ".nii.gz"));
    EXPECT_TRUE(labels.geometry.same_as(in.geometry)) << labels.geometry.str();
    const Image a0 = read(root / "sa" / (name + "_prob_0.nii.gz"));
    const Image a1 = read(root / "sa" / (name + "_prob_1.nii.gz"));
    const Image b0 = read(root / "sb" / (name + "_prob_0.nii.gz"));
    const Image b1 = read(root / "sb" / (name + "_prob_1.nii.gz"));
    const Image e0 = read(root / "e" / (name + "_prob_0.nii.gz"));
    const Image e1 = read(root / "e" / (name + "_prob_1.nii.gz"));
    const Image la = read(root / "sa" / (name + ".nii.gz"));
    for (int64_t i = 0; i < in.geometry.voxels(); ++i) {
      const float m0 = (a0.voxels.data()[i] + b0.voxels.data()[i]) / 2;
      const float m1 = (a1.voxels.data()[i] + b1.voxels.data()[i]) / 2;
      ASSERT_NEAR(e0.voxels.data()[i], m0, 1e-6) << name << " voxel " << i;
      ASSERT_NEAR(e1.voxels.data()[i], m1, 1e-6) << name << " voxel " << i;
      if (std::fabs(m0 - m1) > 1e-6) {
        ASSERT_EQ(labels.voxels.data()[i], m1 > m0 ? 1.f : 0.f) << name << " voxel " << i;
      }
      changed += labels.voxels.data()[i] != la.voxels.data()[i];
    }
  }
  EXPECT_GT(changed, 0) << "b must change some of a's classes for the test to mean anything";

  // Where segment can ensemble too (a + a2, the same windows), both give the same probabilities.
  r = run_useg("ensemble --input " + quote(root / "sa") + " --input " + quote(root / "sa2") +
               " --output " + quote(root / "e2") + " --save-probabilities");
  ASSERT_EQ(r.code, 0) << r.output;
  for (int c = 0; c < 2; ++c)
    for (int k = 0; k < 2; ++k) {
      const std::string f = "case" + std::to_string(c) + "_prob_" + std::to_string(k) + ".nii.gz";
      const Image x = read(root / "e2" / f), y = read(root / "sw" / f);
      for (int64_t i = 0; i < x.voxels.numel(); ++i)
        ASSERT_NEAR(x.voxels.data()[i], y.voxels.data()[i], 1e-5) << f << " voxel " << i;
    }

  // --postprocess runs on the averaged labels.
  r = run_useg("ensemble --input " + quote(root / "sa") + " --input " + quote(root / "sb") +
               " --output " + quote(root / "ep") + " --postprocess largest");
  ASSERT_EQ(r.code, 0) << r.output;
  Image plain = read(root / "e" / "case0.nii.gz");
  apply_postprocess(plain.voxels, plain.geometry, 2, parse_postprocess({"largest"}), "test");
  const Image post = read(root / "ep" / "case0.nii.gz");
  for (int64_t i = 0; i < post.voxels.numel(); ++i)
    ASSERT_EQ(post.voxels.data()[i], plain.voxels.data()[i]) << "voxel " << i;

  // Errors name the folder or file.
  r = run_useg("ensemble --input " + quote(root / "sa") + " --output " + quote(root / "x"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("at least two --input folders"), std::string::npos) << r.output;
  fs::create_directories(root / "odd");
  Geometry g;
  g.dims = 2;
  g.size = {9, 9, 1};
  for (int k = 0; k < 2; ++k)
    for (int c = 0; c < 2; ++c)
      write_image(
          (root / "odd" / ("case" + std::to_string(c) + "_prob_" + std::to_string(k) + ".nii.gz"))
              .string(),
          Tensor::zeros(Shape{1, 1, 1, 9, 9}), g, "float");
  r = run_useg("ensemble --input " + quote(root / "sa") + " --input " + quote(root / "odd") +
               " --output " + quote(root / "x"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find((root / "odd" / "case0_prob_0.nii.gz").string() + " (size 9x9"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("is not on the grid of"), std::string::npos) << r.output;
  fs::remove(root / "sb" / "case1_prob_1.nii.gz");
  r = run_useg("ensemble --input " + quote(root / "sa") + " --input " + quote(root / "sb") +
               " --output " + quote(root / "x"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find((root / "sb" / "case1_prob_1.nii.gz").string() + " is missing"),
            std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace useg
