// What a model asks of `useg segment` by default (model.json's inference section), and the flags
// that override it; an ensemble follows its first model, the report records what ran and the log
// says where it came from.
//   inference.tta: two folders with the same weights, one with tta true, must give exactly the
//     probabilities of the other run with --tta (and with --no-tta exactly those of the plain run).
//   inference.postprocess: a folder with ["largest"] must give exactly the labels of the plain
//     folder run with --postprocess largest; --postprocess none / STEPS replace the model's steps.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <filesystem>

#include "segment_test_util.h"
#include "useg/image.h"
#include "useg/segment.h"
#include "useg/tensor.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

using test::quote;
using test::run_useg;

// DIR/ct.nii.gz: a smooth volume of `size` (x, y, z) on an oblique grid.
void write_case(const fs::path& dir, const std::array<int64_t, 3>& size) {
  fs::create_directories(dir);
  Geometry g = test::oblique_geometry_3d();
  g.size = size;
  write_image((dir / "ct.nii.gz").string(), test::pattern_volume(g), g, "float");
}

std::vector<float> probs(const fs::path& dir, int k) {
  return read_image((dir / ("ct_prob_" + std::to_string(k) + ".nii.gz")).string())
      .voxels.to_vector();
}

TEST(SegmentDefaults, OptionsFollowTheModelUnlessTold) {
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

  EXPECT_TRUE(postprocess_steps(info, opts).empty());
  info.inference.postprocess = {"largest", "min-size=10vox"};
  const std::vector<PostprocessStep> steps = postprocess_steps(info, opts);
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[1].kind, PostprocessStep::Kind::MinSize);
  EXPECT_EQ(steps[1].min_size, 10);
  opts.postprocess = std::vector<PostprocessStep>{};  // --postprocess none
  EXPECT_TRUE(postprocess_steps(info, opts).empty());
}

TEST(SegmentDefaults, MirroringFollowsTheModelUnlessTold) {
  fs::path root = test::fresh_dir("segment_tta");
  test::ModelSpec plain_spec;  // same seed, so the same weights
  test::ModelSpec tta_spec;
  tta_spec.tta = true;
  const std::string plain = test::make_model(root / "plain", plain_spec);
  const std::string tta = test::make_model(root / "tta", tta_spec);
  write_case(root / "in", {20, 18, 12});
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
    const bool warned = r.output.find("inference section differs from") != std::string::npos;
    EXPECT_EQ(warned, run.out.rfind("ens_", 0) == 0) << r.output;  // the two folders differ
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

std::vector<float> labels(const fs::path& dir) {
  return read_image((dir / "ct.nii.gz").string()).voxels.to_vector();
}

TEST(SegmentDefaults, PostprocessStepsComeFromTheModelUnlessGiven) {
  fs::path root = test::fresh_dir("segment_postprocess_default");
  test::ModelSpec plain_spec, steps_spec;  // same seed, so the same weights
  steps_spec.postprocess = {"largest"};
  const std::string plain = test::make_model(root / "plain", plain_spec);
  const std::string model = test::make_model(root / "largest", steps_spec);
  write_case(root / "in", {24, 20, 14});
  const std::string in = " --input " + quote(root / "in") + " --threads 1";
  struct Run {
    std::string out, args, log;
    std::vector<std::string> steps;  // the report's
  };
  const std::vector<Run> runs = {
      {"plain", " --model " + quote(plain), "", {}},
      {"plain_largest", " --model " + quote(plain) + " --postprocess largest",
       "postprocess: largest (--postprocess)", {"largest"}},
      {"plain_fill", " --model " + quote(plain) + " --postprocess fill-holes", "", {"fill-holes"}},
      {"model", " --model " + quote(model),
       "postprocess: largest (model.json inference.postprocess; --postprocess replaces it, "
       "--postprocess none turns it off)",
       {"largest"}},
      {"model_none", " --model " + quote(model) + " --postprocess none",
       "postprocess: none (--postprocess)", {}},
      {"model_fill", " --model " + quote(model) + " --postprocess fill-holes",
       "postprocess: fill-holes (--postprocess)", {"fill-holes"}},
      {"ensemble", " --model " + quote(model) + " --model " + quote(plain), "", {"largest"}},
  };
  for (const Run& run : runs) {
    SCOPED_TRACE(run.out);
    auto r = run_useg("segment" + run.args + in + " --output " + quote(root / run.out));
    ASSERT_EQ(r.code, 0) << r.output;
    if (!run.log.empty()) {
      EXPECT_NE(r.output.find(run.log), std::string::npos) << r.output;
    }
    if (run.out == "plain") {  // nothing to say when neither the model nor the flags have steps
      EXPECT_EQ(r.output.find("postprocess:"), std::string::npos) << r.output;
    }
    auto report = test::read_report(root / run.out / "report.json");
    EXPECT_EQ(report.at("postprocess"), nlohmann::json(run.steps)) << report.dump();
  }
  EXPECT_EQ(labels(root / "model"), labels(root / "plain_largest"));
  EXPECT_EQ(labels(root / "model_none"), labels(root / "plain"));
  EXPECT_EQ(labels(root / "model_fill"), labels(root / "plain_fill"));
  EXPECT_EQ(labels(root / "ensemble"), labels(root / "plain_largest"));  // same weights twice
  const std::vector<float> a = labels(root / "plain"), b = labels(root / "plain_largest");
  int64_t changed = 0;
  for (size_t i = 0; i < a.size(); ++i) changed += a[i] != b[i];
  EXPECT_GT(changed, 0) << "largest must change this untrained model's labels";
  auto info = run_useg("info " + quote(model));
  EXPECT_NE(info.output.find("segment: postprocess largest (inference.postprocess; --postprocess "
                             "replaces it)"),
            std::string::npos) << info.output;
}

// --diameter D on an instance model trained on objects of diameter d: the target spacing (the
// image's own when model.json has none) and the split settings scale by D / d; anything else is
// refused with the reason.
TEST(SegmentDefaults, DiameterScalesTheGridAndTheSplit) {
  ModelInfo info;
  info.model.dims = 2;
  info.model.num_classes = 3;
  info.target = "instances";
  info.instances.diameter = 20;
  info.instances.seed_min_size = 5;
  info.instances.min_size = 20;
  info.instances.seed_split = 1.5;
  Geometry g;
  g.dims = 2;
  g.spacing = {0.5, 0.25, 1};  // x, y
  SegmentOptions opts;
  const ModelInfo same = case_model_info(info, g, opts);
  EXPECT_TRUE(same.preprocess.target_spacing.empty());
  EXPECT_EQ(same.instances.min_size, 20);
  opts.diameter = 40;  // objects twice as large: a grid twice as coarse
  const ModelInfo c = case_model_info(info, g, opts);
  EXPECT_EQ(c.preprocess.target_spacing, (std::vector<double>{0.5, 1.0}));  // [H, W]
  EXPECT_DOUBLE_EQ(c.instances.seed_min_size, 20);  // mm^2: x 2^2
  EXPECT_DOUBLE_EQ(c.instances.min_size, 80);
  EXPECT_DOUBLE_EQ(c.instances.seed_split, 3);  // mm: x 2
  EXPECT_EQ(c.instances.diameter, 40);
  info.preprocess.target_spacing = {0.4, 0.3};
  opts.diameter = 10;
  EXPECT_EQ(case_model_info(info, g, opts).preprocess.target_spacing,
            (std::vector<double>{0.2, 0.15}));
  EXPECT_EQ(network_grid(g, case_model_info(info, g, opts)).spacing[0], 0.15);

  ModelInfo unknown = info;
  unknown.instances.diameter = 0;
  EXPECT_USEG_ERROR(case_model_info(unknown, g, opts),
                    "--diameter needs model.json's instances.diameter");
  ModelInfo classes = info;
  classes.target = "classes";
  EXPECT_USEG_ERROR(case_model_info(classes, g, opts), "--diameter needs an instance model");

  // Through the binary: refused before any case for a class model; 0 is no diameter.
  fs::path root = test::fresh_dir("segment_diameter");
  const std::string m = test::make_model(root / "model", test::ModelSpec{});
  write_case(root / "in", {20, 18, 12});
  const std::string in = " --model " + quote(m) + " --input " + quote(root / "in") + " --output " +
                         quote(root / "out");
  auto r = run_useg("segment" + in + " --diameter 30");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--diameter needs an instance model (model.json target 'instances')"),
            std::string::npos) << r.output;
  r = run_useg("segment" + in + " --diameter 0");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--diameter"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(root / "out" / "ct.nii.gz"));
  r = run_useg("segment" + in + " --threads 1");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(test::read_report(root / "out" / "report.json").at("diameter").is_null());
}

}  // namespace
}  // namespace useg
