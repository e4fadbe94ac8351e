// `useg plan` (include/useg/plan.h): nnU-Net's target spacing rule, pooling topology and patch
// fitting on known inputs; an anisotropic generated dataset (0.7 x 0.7 x 3 mm) is not pooled
// along its coarse axis at the first levels; the planned config parses and trains an epoch.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "common/expect_error.h"
#include "common/image_fixtures.h"
#include "common/train_fixtures.h"
#include "core/files.h"
#include "segment_test_util.h"
#include "useg/config.h"
#include "useg/model.h"
#include "useg/plan.h"
#include "useg/train.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

using A3 = std::array<int, 3>;

// nnU-Net's get_pool_and_conv_props on isotropic 1 mm and a 128^3 patch: five 2x poolings on
// every axis (128 -> 4), 3x3x3 kernels throughout; on 3 x 0.7 x 0.7 mm the coarse axis waits
// until the others are within a factor 2 of it.
TEST(Plan, PoolingFollowsNnUNet) {
  PoolPlan iso = plan_pooling({1, 1, 1}, {128, 128, 128});
  EXPECT_EQ(iso.pool_sizes, std::vector<A3>(5, A3{2, 2, 2}));
  EXPECT_EQ(iso.kernel_sizes, std::vector<A3>(6, A3{3, 3, 3}));
  EXPECT_EQ(iso.patch, (std::vector<int>{128, 128, 128}));
  PoolPlan aniso = plan_pooling({3, 0.7, 0.7}, {10, 40, 40});
  EXPECT_EQ(aniso.pool_sizes, (std::vector<A3>{{1, 2, 2}, {1, 2, 2}, {2, 2, 2}}));
  EXPECT_EQ(aniso.kernel_sizes, (std::vector<A3>{{1, 3, 3}, {1, 3, 3}, {3, 3, 3}, {3, 3, 3}}));
  EXPECT_EQ(aniso.divisor, (std::vector<int>{2, 8, 8}));
  EXPECT_EQ(aniso.patch, (std::vector<int>{10, 40, 40}));
  PoolPlan two = plan_pooling({0.5, 0.5}, {100, 60});  // 2D: D entries are 1
  // 100 -> 50 -> 25 -> 13 -> 7 and 60 -> 30 -> 15 -> 8 -> 4 (sizes rounded up, as np.ceil)
  EXPECT_EQ(two.pool_sizes, std::vector<A3>(4, A3{1, 2, 2}));
  EXPECT_EQ(two.patch, (std::vector<int>{112, 64}));  // rounded up to the pooling products
}

DatasetFingerprint synthetic(const std::vector<double>& z_spacing, int64_t z_size) {
  DatasetFingerprint fp;
  fp.dims = 3;
  for (double z : z_spacing) {
    fp.spacings.push_back({z, 0.7, 0.7});
    fp.shapes.push_back({z_size, 40, 40});
  }
  return fp;
}

// Median spacing, except on strongly anisotropic data: then the coarse axis takes the 10th
// percentile of its spacings (numpy's, linear).
TEST(Plan, TargetSpacingAnisotropyRule) {
  auto expect = [](const std::array<double, 3>& got, double z, const char* why) {
    EXPECT_NEAR(got[0], z, 1e-9) << why;
    EXPECT_EQ(got[1], 0.7) << why;
    EXPECT_EQ(got[2], 0.7) << why;
  };
  expect(plan_target_spacing(synthetic({2.5, 3, 3, 4, 5}, 10)), 2.7, "10th percentile of z");
  expect(plan_target_spacing(synthetic({2.5, 3, 3, 4, 5}, 40)), 3.0,
         "not enough fewer voxels along z: the median");
  expect(plan_target_spacing(synthetic({1.5, 1.5, 2, 2, 2}, 10)), 2.0,
         "not 3x coarser: the median");
}

// Cases of 40 x 40 x 10 voxels at 0.7 x 0.7 x 3 mm, a bright box labelled 1.
fs::path anisotropic_dataset(const fs::path& dir, int cases) {
  fs::create_directories(dir / "imagesTr");
  fs::create_directories(dir / "labelsTr");
  Geometry g;
  g.dims = 3;
  g.size = {40, 40, 10};
  g.spacing = {0.7, 0.7, 3.0};
  std::mt19937 gen(3);
  std::normal_distribution<float> noise(0, 1);
  for (int c = 0; c < cases; ++c) {
    Tensor img = Tensor::empty(Shape{1, 1, 10, 40, 40}), lab = Tensor::zeros(Shape{1, 1, 10, 40, 40});
    for (int64_t z = 0; z < 10; ++z)
      for (int64_t y = 0; y < 40; ++y)
        for (int64_t x = 0; x < 40; ++x) {
          bool in = z >= 3 && z < 7 && y >= 10 + c && y < 25 + c && x >= 12 && x < 30;
          img.at(0, 0, z, y, x) = 100 + 10 * noise(gen) + (in ? 50.f : 0.f);
          lab.at(0, 0, z, y, x) = in ? 1.f : 0.f;
        }
    std::string name = "case_" + std::to_string(c);
    write_image((dir / "imagesTr" / (name + "_0000.nii.gz")).string(), img, g, "float");
    write_image((dir / "labelsTr" / (name + ".nii.gz")).string(), lab, g, "uint8");
  }
  test::write_text(dir / "dataset.json", test::dataset_json(cases, "MR", 1));
  return dir;
}

TEST(Plan, AnisotropicDatasetPlansAndTrains) {
  fs::path root = test::fresh_dir("plan_aniso");
  fs::path data = anisotropic_dataset(root / "Dataset001_Aniso", 4);
  auto r = test::run_useg("plan --data " + test::quote(data) + " --memory-budget 8G --output " +
                          test::quote(root / "out" / "plan.json"));
  ASSERT_EQ(r.code, 0) << r.output;
  ASSERT_TRUE(fs::exists(root / "out" / "plan.json")) << r.output;
  auto plan = nlohmann::json::parse(read_file((root / "out" / "plan.json").string()));
  const auto& fp = plan["fingerprint"];
  EXPECT_EQ(fp["dims"], 3);
  EXPECT_EQ(fp["cases"].size(), 4u);
  EXPECT_NEAR(fp["spacings"][0][0].get<double>(), 3.0, 1e-6);
  EXPECT_NEAR(fp["spacings"][0][2].get<double>(), 0.7, 1e-6);
  EXPECT_EQ(fp["shapes"][0], nlohmann::json::parse("[10, 40, 40]"));
  EXPECT_NEAR(fp["foreground_intensity"]["MR"]["mean"].get<double>(), 150, 3);
  EXPECT_NEAR(fp["foreground_intensity"]["MR"]["std"].get<double>(), 10, 2);
  EXPECT_NEAR(fp["class_voxel_fractions"]["blob"].get<double>(), 4.0 * 15 * 18 / 16000, 1e-9);
  EXPECT_NEAR(plan["target_spacing"][0].get<double>(), 3.0, 1e-6);
  // The 3D configuration: no pooling along the coarse (D) axis at the first two levels.
  RunConfig c3 = load_run_config((root / "out" / "plan_3d_fullres.json").string());
  ASSERT_GE(c3.model.depth, 3);
  EXPECT_EQ(c3.model.pool_sizes[0], (A3{1, 2, 2}));
  EXPECT_EQ(c3.model.pool_sizes[1], (A3{1, 2, 2}));
  EXPECT_EQ(c3.model.kernel_sizes[0], (A3{1, 3, 3}));
  EXPECT_EQ(c3.train.patch_size, (std::vector<int>{10, 40, 40}));
  EXPECT_EQ(c3.train.target_spacing_mm.size(), 3u);
  EXPECT_NEAR(c3.train.target_spacing_mm[0], 3.0, 1e-6);
  EXPECT_GE(c3.train.batch_size, 2);
  RunConfig c2 = load_run_config((root / "out" / "plan_2d.json").string());
  EXPECT_EQ(c2.model.dims, 2);
  EXPECT_EQ(c2.train.patch_size, (std::vector<int>{40, 40}));
  EXPECT_TRUE(c2.train.batch_dice);
  // Both predict with mirroring, as nnU-Net does unless told not to.
  EXPECT_TRUE(c3.inference.tta);
  EXPECT_TRUE(c2.inference.tta);
  // The 3D config trains (one epoch, two steps, to keep the test short).
  c3.train.epochs = 1;
  c3.train.iterations_per_epoch = 2;
  c3.train.num_workers = 0;
  TrainOptions o;
  o.data_dir = data.string();
  o.output_dir = (root / "run").string();
  o.config = c3;
  o.tty = 0;
  o.threads = 2;
  o.log = [](const std::string&) {};
  TrainResult t = train(o);
  EXPECT_EQ(t.epochs_done, 1);
  EXPECT_TRUE(std::isfinite(t.last_train_loss));
  EXPECT_TRUE(fs::exists(root / "run" / "last" / "model.json"));
  // The trainer writes the config's inference section into the model it saves.
  EXPECT_TRUE(load_model_info((root / "run" / "last" / "model.json").string()).inference.tta);
}

// A small budget shrinks the patch until a training step of batch 2 fits; one too small for any
// patch is an error that says which option to raise.
TEST(Plan, PatchShrinksToTheMemoryBudget) {
  DatasetFingerprint fp;
  fp.dims = 3;
  for (int i = 0; i < 3; ++i) {
    fp.spacings.push_back({1, 1, 1});
    fp.shapes.push_back({96, 128, 128});
  }
  fp.channels.resize(1);
  fp.channels[0].name = "CT";
  fp.class_names = {"background", "liver"};
  DatasetPlan big = plan_dataset(fp, int64_t(64) << 30);
  DatasetPlan small = plan_dataset(fp, int64_t(1) << 30);
  ASSERT_EQ(big.configurations.size(), 2u);
  const RunConfig& b3 = big.configurations[0].run;
  const RunConfig& s3 = small.configurations[0].run;
  EXPECT_EQ(b3.train.patch_size, (std::vector<int>{96, 128, 128}));
  int64_t vb = 1, vs = 1;
  for (int k = 0; k < 3; ++k) vb *= b3.train.patch_size[size_t(k)], vs *= s3.train.patch_size[size_t(k)];
  EXPECT_LT(vs, vb);
  std::array<int64_t, 3> p{s3.train.patch_size[0], s3.train.patch_size[1], s3.train.patch_size[2]};
  // The modelled step fits the budget less the reserve for what the model does not count.
  const double usable = double(int64_t(1) << 30) * (1 - kPlanMemoryReserve);
  EXPECT_LE(double(training_step_memory(s3.model, p, 2).total()), usable);
  EXPECT_LE(double(small.configurations[0].step_bytes), usable);
  test::expect_error([&] { plan_dataset(fp, int64_t(1) << 20); },
                     "less its 15% reserve is");
}

// The memory model counts what the training forward keeps for the backward (src/nn/node_ops.h),
// counted here by hand for a 2D U-Net of depth 1 (base 4, 1 -> 2 classes) on a 16 x 16 patch,
// A = 256 pixels at full and B = 64 at half resolution, in floats:
//   convolution inputs: 1A + 4A (encoder), 4B + 8B (bottleneck), 8A (the concatenation) + 4A
//     (decoder), 4A (the 1x1 head)                                          = 6144
//   transposed convolution input 8B = 512; norm inputs (conv outputs) 2 x 4A + 2 x 8B + 2 x 4A
//     = 5120
//   max pooling: 1 byte per output, 4B / 4                                   = 64
//   six LeakyReLUs keep signs only: (4A + 4A + 8B + 8B + 4A + 4A) / 32      = 160
//   two of the largest value (the concatenation, 8A) for the gradients      = 4096
//   input and one-hot target 3A                                             = 768
// = 16864 floats = 67456 bytes at batch 1; parameters 4 x 4 bytes each.
TEST(Plan, TheMemoryModelCountsWhatTheForwardKeeps) {
  const ModelConfig c = parse_model_config(R"({"dims": 2, "in_channels": 1, "num_classes": 2,
      "base_filters": 4, "depth": 1, "convs_per_stage": 2, "norm": "instance",
      "activation": "leaky_relu", "negative_slope": 0.01})",
                                           "tiny.json");
  const TrainingMemory m = training_step_memory(c, {1, 16, 16}, 1);
  EXPECT_EQ(m.activation_bytes, 67456);
  EXPECT_EQ(training_step_memory(c, {1, 16, 16}, 3).activation_bytes, 3 * 67456);
  EXPECT_EQ(m.parameter_bytes, 16 * summarize(c).params);
  // Sigmoid keeps its whole outputs: 5120 floats where the signs took 160.
  ModelConfig s = c;
  s.activation = Activation::Sigmoid;
  EXPECT_EQ(training_step_memory(s, {1, 16, 16}, 1).activation_bytes, 67456 + 4 * 31 * 160);
}

}  // namespace
}  // namespace useg
