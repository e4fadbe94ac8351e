// Ensembles (`useg segment --model A --model B`, or --model RUN with fold_*/best): the softmax
// probabilities of the models are averaged inside one pass of the sliding window; the result
// equals the mean of the single-model runs. Models that differ in classes or channels are refused
// with both folders and the difference named (another patch or preprocessing is another
// configuration: test_segment_configurations.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "segment_test_util.h"
#include "useg/image.h"
#include "useg/infer.h"
#include "useg/segment.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

using test::max_abs_diff;
using test::quote;
using test::run_useg;

// In process: predict_probabilities over two networks (with mirroring, several windows and a
// batch of 2) = the mean of each network's own result.
TEST(SegmentEnsemble, WindowAverageEqualsMeanOfSingleRuns) {
  auto backend = make_backend(Device::CPU);
  ModelConfig m;
  m.dims = 3;
  m.num_classes = 3;
  m.base_filters = 4;
  m.depth = 2;
  Network a(m, *backend), b(m, *backend);
  a.init_weights(1);
  b.init_weights(2);
  Geometry g = test::oblique_geometry_3d();
  g.size = {21, 13, 9};
  Tensor vol = test::pattern_volume(g);
  for (int64_t i = 0; i < vol.numel(); ++i) vol.data()[i] /= 50.f;
  WindowOptions w;
  w.patch = {8, 8, 8};
  w.batch = 2;
  w.mirror = true;
  Tensor pa = predict_probabilities(a, vol, w), pb = predict_probabilities(b, vol, w);
  int64_t calls = 0, total = 0;
  Tensor pe = predict_probabilities(std::vector<Network*>{&a, &b}, vol, w,
                                    [&](int64_t, int64_t t) { ++calls, total = t; });
  std::vector<float> mean = pa.to_vector(), vb = pb.to_vector();
  for (size_t i = 0; i < mean.size(); ++i) mean[i] = 0.5f * (mean[i] + vb[i]);
  EXPECT_LE(max_abs_diff(pe.to_vector(), mean), 1e-5f);
  EXPECT_GT(max_abs_diff(pa.to_vector(), pb.to_vector()), 1e-3f) << "the two models must differ";
  EXPECT_EQ(calls, (total + 1) / 2) << "one pass over the window batches";
  // One network: exactly the single-network path.
  EXPECT_EQ(predict_probabilities(std::vector<Network*>{&a}, vol, w).to_vector(), pa.to_vector());
}

void write_case(const fs::path& p) {
  Geometry g = test::oblique_geometry_3d();
  g.size = {20, 18, 12};
  write_image(p.string(), test::pattern_volume(g), g, "float");
}

std::vector<float> probs(const fs::path& dir, const std::string& name, int k) {
  return read_image((dir / (name + "_prob_" + std::to_string(k) + ".nii.gz")).string())
      .voxels.to_vector();
}

// Through the binary: --model A --model B's saved probabilities are the mean of A's and B's
// (tolerance 1e-5); a run folder holding fold_0/best and fold_1/best gives the same ensemble.
TEST(SegmentEnsemble, CommandAveragesModelsAndFoldFolders) {
  fs::path root = test::fresh_dir("segment_ensemble");
  test::ModelSpec sa, sb;
  sa.seed = 11;
  sb.seed = 12;
  const std::string a = test::make_model(root / "cv" / "fold_0" / "best", sa);
  const std::string b = test::make_model(root / "cv" / "fold_1" / "best", sb);
  fs::create_directories(root / "in");
  write_case(root / "in" / "ct.nii.gz");
  const std::string in = " --input " + quote(root / "in") + " --save-probabilities --threads 1";
  for (const auto& [out, models] :
       std::vector<std::pair<std::string, std::string>>{
           {"A", " --model " + quote(a)},
           {"B", " --model " + quote(b)},
           {"AB", " --model " + quote(a) + " --model " + quote(b)},
           {"CV", " --model " + quote(root / "cv")}}) {
    auto r = run_useg("segment" + models + in + " --output " + quote(root / out));
    ASSERT_EQ(r.code, 0) << out << ": " << r.output;
  }
  for (int k = 0; k < 3; ++k) {
    std::vector<float> pa = probs(root / "A", "ct", k), pb = probs(root / "B", "ct", k);
    std::vector<float> mean(pa.size());
    for (size_t i = 0; i < pa.size(); ++i) mean[i] = 0.5f * (pa[i] + pb[i]);
    EXPECT_LE(max_abs_diff(probs(root / "AB", "ct", k), mean), 1e-5f) << "class " << k;
    EXPECT_EQ(probs(root / "CV", "ct", k), probs(root / "AB", "ct", k)) << "class " << k;
    EXPECT_GT(max_abs_diff(pa, pb), 1e-3f) << "the two models must differ";
  }
  auto report = test::read_report(root / "AB" / "report.json");
  ASSERT_TRUE(report.contains("models")) << report.dump();
  EXPECT_EQ(report["models"].size(), 2u);
}

// --max-memory counts the other models' weights and the ensemble's probability sum: a limit a
// few bytes above one model's estimate passes that model alone and fails the ensemble.
TEST(SegmentEnsemble, MaxMemoryCountsEveryModel) {
  fs::path root = test::fresh_dir("segment_ensemble_memory");
  test::ModelSpec sb;
  sb.seed = 5;
  const std::string a = test::make_model(root / "a", test::ModelSpec{});
  const std::string b = test::make_model(root / "b", sb);
  fs::create_directories(root / "in");
  write_case(root / "in" / "ct.nii.gz");
  Image img = read_image((root / "in" / "ct.nii.gz").string());
  ModelInfo info = load_model_info((fs::path(a) / "model.json").string());
  MemoryEstimate one = estimate_case_memory(img.geometry, network_grid(img.geometry, info), 1,
                                            info, SegmentOptions{});
  const std::string limit = " --max-memory " + std::to_string(one.total() + 1000);
  auto r = run_useg("segment --model " + quote(a) + " --input " + quote(root / "in") +
                    " --output " + quote(root / "one") + limit);
  EXPECT_EQ(r.code, 0) << r.output;
  r = run_useg("segment --model " + quote(a) + " --model " + quote(b) + " --input " +
               quote(root / "in") + " --output " + quote(root / "two") + limit);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("more than --max-memory"), std::string::npos) << r.output;
}

// Models that cannot be averaged: the error names both folders and what differs.
TEST(SegmentEnsemble, DisagreeingModelsAreRefused) {
  fs::path root = test::fresh_dir("segment_ensemble_bad");
  const std::string a = test::make_model(root / "a", test::ModelSpec{});
  test::ModelSpec patch;
  patch.patch = {32, 16, 16};
  const std::string b = test::make_model(root / "b", patch);
  test::ModelSpec classes;
  classes.classes = 2;
  const std::string c = test::make_model(root / "c", classes);
  fs::create_directories(root / "in");
  write_case(root / "in" / "ct.nii.gz");
  // Another patch: another configuration (test_segment_configurations.cpp), not an error.
  auto r = run_useg("segment --model " + quote(a) + " --model " + quote(b) + " --input " +
                    quote(root / "in") + " --output " + quote(root / "out"));
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("in 2 configurations"), std::string::npos) << r.output;
  r = run_useg("segment --model " + quote(a) + " --model " + quote(b) + " --model " + quote(c) +
               " --input " + quote(root / "in") + " --output " + quote(root / "out"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("models " + a + " and " + c + " cannot be ensembled"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("model.num_classes 3 vs 2"), std::string::npos) << r.output;
  r = run_useg("segment --model " + quote(root) + " --input " + quote(root / "in") + " --output " +
               quote(root / "out"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("has no model.json and no fold_*/best/"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace useg
