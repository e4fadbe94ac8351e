// Test-time mirroring as a model default: model.json's inference.tta decides whether
// `useg segment` mirrors, --tta / --no-tta override it, an ensemble follows its first model, the
// report records what ran and the log says where it came from. Two folders with the same weights,
// one with inference.tta true, must give exactly the probabilities of the other run with --tta
// (and with --no-tta exactly those of the plain run).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "segment_test_util.h"
#include "useg/image.h"
#include "useg/segment.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

using test::quote;
using test::run_useg;

std::vector<float> probs(const fs::path& dir, int k) {
  return read_image((dir / ("ct_prob_" + std::to_string(k) + ".nii.gz")).string())
      .voxels.to_vector();
}

TEST(SegmentTta, WindowOptionsFollowTheModelUnlessTold) {
  ModelInfo info;
  info.model.dims = 2;
  info.patch_size = {16, 16};
  SegmentOptions opts;
  EXPECT_FALSE(window_options(info, opts).mirror);
  info.inference.tta = true;
  EXPECT_TRUE(window_options(info, opts).mirror);
  opts.tta = false;  // --no-tta
  EXPECT_FALSE(window_options(info, opts).mirror);
  info.inference.tta = false;
  opts.tta = true;   // --tta
  EXPECT_TRUE(window_options(info, opts).mirror);
}

TEST(SegmentTta, ModelDefaultAndFlags) {
  fs::path root = test::fresh_dir("segment_tta");
  test::ModelSpec plain_spec;  // same seed, so the same weights
  test::ModelSpec tta_spec;
  tta_spec.tta = true;
  const std::string plain = test::make_model(root / "plain", plain_spec);
  const std::string tta = test::make_model(root / "tta", tta_spec);
  fs::create_directories(root / "in");
  Geometry g = test::oblique_geometry_3d();
  g.size = {20, 18, 12};
  write_image((root / "in" / "ct.nii.gz").string(), test::pattern_volume(g), g, "float");
  const std::string in = " --input " + quote(root / "in") + " --save-probabilities --threads 1";
  struct Run {
    std::string out, args, log;
    bool mirrored;
  };
  const std::vector<Run> runs = {
      {"plain", " --model " + quote(plain),
       "test-time mirroring off (model.json inference.tta; --tta / --no-tta override it)", false},
      {"plain_tta", " --model " + quote(plain) + " --tta", "test-time mirroring on (--tta)", true},
      {"tta", " --model " + quote(tta),
       "test-time mirroring on (model.json inference.tta; --tta / --no-tta override it)", true},
      {"tta_off", " --model " + quote(tta) + " --no-tta", "test-time mirroring off (--no-tta)",
       false},
      // An ensemble follows its first model.
      {"ens_tta", " --model " + quote(tta) + " --model " + quote(plain),
       "test-time mirroring on (model.json", true},
      {"ens_plain", " --model " + quote(plain) + " --model " + quote(tta),
       "test-time mirroring off (model.json", false},
  };
  for (const Run& run : runs) {
    SCOPED_TRACE(run.out);
    auto r = run_useg("segment" + run.args + in + " --output " + quote(root / run.out));
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find(run.log), std::string::npos) << r.output;
    auto report = test::read_report(root / run.out / "report.json");
    EXPECT_EQ(report.at("tta"), run.mirrored) << report.dump();
  }
  float mirror_effect = 0;
  for (int k = 0; k < 3; ++k) {
    SCOPED_TRACE("class " + std::to_string(k));
    EXPECT_EQ(probs(root / "tta", k), probs(root / "plain_tta", k));
    EXPECT_EQ(probs(root / "tta_off", k), probs(root / "plain", k));
    EXPECT_EQ(probs(root / "ens_tta", k), probs(root / "plain_tta", k));  // same weights twice
    EXPECT_EQ(probs(root / "ens_plain", k), probs(root / "plain", k));
    const std::vector<float> a = probs(root / "plain", k), b = probs(root / "plain_tta", k);
    for (size_t i = 0; i < a.size(); ++i) mirror_effect = std::max(mirror_effect, std::fabs(a[i] - b[i]));
  }
  EXPECT_GT(mirror_effect, 1e-3f) << "mirroring must change the probabilities of this model";

  // Both flags: a usage error naming them; nothing written.
  auto r = run_useg("segment --model " + quote(tta) + in + " --tta --no-tta --output " +
                    quote(root / "both"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--tta excludes --no-tta"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(root / "both" / "ct.nii.gz"));
}

}  // namespace
}  // namespace useg
