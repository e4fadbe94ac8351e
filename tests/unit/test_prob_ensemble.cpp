// `useg ensemble` (src/infer/prob_ensemble.h): separate `useg segment --save-probabilities` runs
// averaged into labels; checked against the mean and argmax computed here from the runs' files,
// against segment's own ensembles (in the window, and of configurations with an instance model's
// split: --model), and for its errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <tuple>

#include "common/train_fixtures.h"
#include "core/files.h"
#include "segment_test_util.h"
#include "useg/config.h"
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
  // Three untrained models: a and a2 with 32x32 windows, b with 48x48 (another configuration).
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

// --model: an instance model's settings split the average into objects, as segment's own
// ensemble of two configurations does (models/nuclei2d, and the same weights on another grid
// with another seed_split: the first model's settings apply). Its classes must be the files'.
TEST(ProbabilityEnsemble, AnInstanceModelSplitsTheAverageAsSegmentDoes) {
  const fs::path root = test::fresh_dir("prob_ensemble_instances");
  fs::copy(fs::path(USEG_SOURCE_DIR) / "models" / "nuclei2d", root / "a");
  fs::copy(root / "a", root / "b");
  ModelInfo b = load_model_info((root / "b" / "model.json").string());
  b.preprocess.target_spacing = {0.8, 0.8};
  b.patch_size = {96, 96};
  b.instances.seed_split *= 4;
  write_file_atomic((root / "b" / "model.json").string(), to_json_string(b) + "\n");
  const Image image = test::disc_image(120, b.instances.diameter);
  fs::create_directories(root / "in");
  write_image((root / "in" / "discs.nii.gz").string(), image.voxels, image.geometry, "float");
  const std::string in = " --input " + quote(root / "in") + " --no-tta --threads 1 --output ";
  for (const auto& [models, out] : std::vector<std::pair<std::string, std::string>>{
           {"--model " + quote(root / "a"), "sa"},
           {"--model " + quote(root / "b"), "sb"},
           {"--model " + quote(root / "a") + " --model " + quote(root / "b"), "sab"}}) {
    auto r = run_useg("segment " + models + in + quote(root / out) +
                      (out == "sab" ? " --instances" : " --save-probabilities"));
    ASSERT_EQ(r.code, 0) << r.output;
  }
  auto r = run_useg("ensemble --input " + quote(root / "sa") + " --input " + quote(root / "sb") +
                    " --model " + quote(root / "a") + " --output " + quote(root / "e"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("object(s) -> " + (root / "e" / "discs_instances.nii.gz").string()),
            std::string::npos)
      << r.output;
  const Image ids = read(root / "e" / "discs_instances.nii.gz");
  EXPECT_TRUE(ids.geometry.same_as(image.geometry)) << ids.geometry.str();
  EXPECT_EQ(ids.voxels.to_vector(),
            read(root / "sab" / "discs_instances.nii.gz").voxels.to_vector());
  EXPECT_EQ(read(root / "e" / "discs.nii.gz").voxels.to_vector(),
            read(root / "sab" / "discs.nii.gz").voxels.to_vector());
  float objects = 0;
  for (float v : ids.voxels.to_vector()) objects = std::max(objects, v);
  EXPECT_GE(objects, 9.f) << "the discs are found";
  // Without --model: the most probable of the three classes, no objects.
  r = run_useg("ensemble --input " + quote(root / "sa") + " --input " + quote(root / "sb") +
               " --output " + quote(root / "plain"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_FALSE(fs::exists(root / "plain" / "discs_instances.nii.gz"));
  float top = 0;
  for (float v : read(root / "plain" / "discs.nii.gz").voxels.to_vector()) top = std::max(top, v);
  EXPECT_EQ(top, 2.f) << "interior and boundary classes kept apart";

  // A model of other classes is refused, naming the case and the model.
  const std::string two = (root / "two").string();
  r = run_useg("init --config " + quote(fs::path(USEG_SOURCE_DIR) / "configs/tiny2d_test.json") +
               " --output " + quote(two));
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_useg("ensemble --input " + quote(root / "sa") + " --input " + quote(root / "sb") +
               " --model " + quote(two) + " --output " + quote(root / "x"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("case discs has 3 probability files"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("but model " + two + " has 2 classes"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace useg
