// `useg find-postprocess` on an instance dataset (src/train/instance_search.h): a briefly trained
// instance model on touching discs; the search's object counts of a candidate must equal what
// `useg segment --instances` writes with those settings in model.json, matched with the
// reference ids (files written by the whole segment pipeline and read back: the split's own
// min_size, not the search's shortcut); the choice must be the best F1 with the model's settings
// kept on ties; --apply must write it into best/ and last/.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <tuple>

#include "common/cell_dataset.h"
#include "common/expect_error.h"
#include "core/files.h"
#include "segment_test_util.h"
#include "train/checkpoint.h"
#include "train/instance_search.h"
#include "useg/config.h"
#include "useg/image.h"
#include "useg/labels.h"
#include "useg/metrics.h"
#include "useg/model.h"
#include "useg/train.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

using test::quote;
using test::run_useg;

InstanceSettings settings_of(const nlohmann::json& j) {
  InstanceSettings s;
  s.fill_holes = j.at("fill_holes").get<bool>();
  s.seed_split = j.at("seed_split").get<double>();
  s.seed_min_size = j.at("seed_min_size").get<double>();
  s.min_size = j.at("min_size").get<double>();
  return s;
}

// The grid of the header, counted by hand for d = 10: A = 25 pi = 78.54 mm^2 (2D), or
// 500 pi / 3 = 523.6 mm^3 (3D).
TEST(InstanceSearch, CandidatesAreTheModelsSettingsThenTheGrid) {
  InstanceSettings cur;
  cur.fill_holes = true;
  cur.seed_split = 1.5;
  cur.seed_min_size = 5;
  cur.min_size = 20;
  cur.boundary_width = 2;
  const std::vector<InstanceSettings> c = instance_candidates(cur, 10, 2);
  // split {0, 0.3, 0.6, 1} + 1.5; seed {0, 0.785, 2.36} + 5; min {0, 2.36, 7.85} + 20; fill x 2.
  ASSERT_EQ(c.size(), 2u * 5 * 4 * 4);
  EXPECT_EQ(c[0].seed_split, 1.5);
  EXPECT_EQ(c[0].min_size, 20);
  EXPECT_TRUE(c[0].fill_holes);
  std::set<double> split, seed, min;
  std::set<std::tuple<bool, double, double, double>> seen;
  for (const InstanceSettings& s : c) {
    split.insert(s.seed_split);
    seed.insert(s.seed_min_size);
    min.insert(s.min_size);
    EXPECT_EQ(s.boundary_width, 2) << "the rest stays the model's";
    EXPECT_TRUE(seen.insert({s.fill_holes, s.seed_split, s.seed_min_size, s.min_size}).second)
        << "no candidate twice";
  }
  EXPECT_EQ(split, (std::set<double>{0, 0.3, 0.6, 1, 1.5}));
  EXPECT_EQ(seed, (std::set<double>{0, 0.785, 2.36, 5}));
  EXPECT_EQ(min, (std::set<double>{0, 2.36, 7.85, 20}));
  // After the model's: fill_holes as the model's first, each axis ascending.
  EXPECT_TRUE(c[1].fill_holes);
  EXPECT_EQ(c[1].seed_split, 0);
  EXPECT_EQ(c[1].seed_min_size, 0);
  EXPECT_EQ(c[1].min_size, 0);
  EXPECT_EQ(c[2].min_size, 2.36);
  EXPECT_FALSE(c.back().fill_holes);
  EXPECT_EQ(c.back().min_size, 20);

  // 3D: sizes of a ball; a model's value already on the grid is not added twice.
  cur.seed_split = 0;
  cur.seed_min_size = 0;
  cur.min_size = 0;
  const std::vector<InstanceSettings> c3 = instance_candidates(cur, 10, 3);
  ASSERT_EQ(c3.size(), 2u * 4 * 3 * 3);
  std::set<double> seed3, min3;
  for (const InstanceSettings& s : c3) seed3.insert(s.seed_min_size), min3.insert(s.min_size);
  EXPECT_EQ(seed3, (std::set<double>{0, 5.24, 15.7}));
  EXPECT_EQ(min3, (std::set<double>{0, 15.7, 52.4}));
  test::expect_error([&] { instance_candidates(cur, 0, 2); }, "object diameter 0");
}

// The shortcut of score_instance_case (one split per candidate without min_size, the small
// objects then left out of the matching) against split_instances with every candidate's full
// settings, on a hand-made 3D scene at anisotropic spacing (0.5 x 0.5 x 1.5 mm, so min_size in
// mm^3 is not a voxel count): two touching balls whose interiors a neck joins (seed_split
// matters), a small ball (min_size matters), a hole in the first ball (fill_holes matters) and a
// speck that is no object. The same on three threads.
TEST(InstanceSearch, OneSplitPerCandidateEqualsTheFullSplitIn3D) {
  Geometry g;
  g.dims = 3;
  g.size = {40, 32, 14};
  g.spacing = {0.5, 0.5, 1.5};
  struct Ball {
    double x, y, z, r;
  };
  const std::vector<Ball> balls = {{6, 8, 10, 4}, {12.8, 8, 10, 4}, {15, 13, 5, 1.6}};
  const int64_t W = g.size[0], H = g.size[1], D = g.size[2], n = W * H * D;
  Tensor ref = Tensor::zeros(Shape{1, 1, D, H, W});
  Tensor fg = Tensor::zeros(Shape{1, 1, D, H, W});
  Tensor probs = Tensor::empty(Shape{1, 3, D, H, W});
  std::mt19937 gen(5);
  std::uniform_real_distribution<float> noise(0.f, 0.08f);
  float* p = probs.data();
  for (int64_t z = 0; z < D; ++z)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        const double px = x * 0.5, py = y * 0.5, pz = z * 1.5;
        const int64_t i = (z * H + y) * W + x;
        int id = 0;
        double best = 1e9, interior = 0;
        for (size_t k = 0; k < balls.size(); ++k) {
          const Ball& b = balls[k];
          const double d = std::sqrt((px - b.x) * (px - b.x) + (py - b.y) * (py - b.y) +
                                     (pz - b.z) * (pz - b.z)) /
                           b.r;
          if (d <= 1 && d < best)
            best = d, id = int(k) + 1, interior = std::clamp(1.6 - 2 * d, 0.0, 1.0);
        }
        // The neck: interior along the segment between the two touching balls' centres.
        if (id && std::fabs(py - 8) < 0.8 && std::fabs(pz - 10) < 1.6 && px > 6 && px < 12.8)
          interior = std::max(interior, 0.7);
        const bool hole =
            std::fabs(px - 5) < 1.1 && std::fabs(py - 8) < 1.1 && std::fabs(pz - 10) < 0.8;
        const bool speck = x >= 34 && x < 36 && y >= 26 && y < 28 && z == 2;
        ref.data()[i] = float(id);
        fg.data()[i] = (id && !hole) || speck ? 1.f : 0.f;
        const float pi = float(interior) + noise(gen), pb = id ? 1.f - float(interior) : 0.1f;
        const float pbg = id ? 0.05f : 0.9f;
        const float sum = pi + pb + pbg;
        p[i] = pbg / sum;
        p[n + i] = pi / sum;
        p[2 * n + i] = pb / sum;
      }
  InstanceSettings cur;
  cur.seed_split = 0.3;
  cur.min_size = 2;
  std::vector<InstanceCandidate> cands;
  for (const InstanceSettings& c : instance_candidates(cur, 6, 3))
    cands.push_back({c, {}, {}, 0, 0});
  score_instance_case(fg, probs, ref, g, cands);
  // On 3 threads (the splits run at once, ITK on one thread each): the same scores, and ITK's
  // thread count restored.
  std::vector<InstanceCandidate> parallel;
  for (const InstanceCandidate& c : cands) parallel.push_back({c.settings, {}, {}, 0, 0});
  const int itk_threads = imaging_threads();
  score_instance_case(fg, probs, ref, g, parallel, 3);
  EXPECT_EQ(imaging_threads(), itk_threads);
  for (size_t k = 0; k < cands.size(); ++k) {
    EXPECT_EQ(parallel[k].pooled.n_pred, cands[k].pooled.n_pred) << "candidate " << k;
    EXPECT_EQ(parallel[k].pooled.tp, cands[k].pooled.tp) << "candidate " << k;
    EXPECT_EQ(parallel[k].pooled.sum_matched_iou, cands[k].pooled.sum_matched_iou) << k;
    EXPECT_EQ(parallel[k].case_f1, cands[k].case_f1) << "candidate " << k;
  }
  std::set<std::tuple<int64_t, int64_t, int64_t>> outcomes;
  for (const InstanceCandidate& c : cands) {
    InstanceScores full =
        match_instances(instance_overlap(split_instances(fg, probs, g, c.settings), ref), 0.5);
    SCOPED_TRACE("fill " + std::to_string(c.settings.fill_holes) + " split " +
                 std::to_string(c.settings.seed_split) + " seed " +
                 std::to_string(c.settings.seed_min_size) + " min " +
                 std::to_string(c.settings.min_size));
    EXPECT_EQ(c.pooled.n_pred, full.n_pred);
    EXPECT_EQ(c.pooled.tp, full.tp);
    EXPECT_DOUBLE_EQ(c.pooled.sum_matched_iou, full.sum_matched_iou);
    ASSERT_EQ(c.case_f1.size(), 1u);
    EXPECT_DOUBLE_EQ(c.case_f1[0], full.f1);
    outcomes.insert({full.n_pred, full.tp, int64_t(std::lround(full.sum_matched_iou * 1e6))});
  }
  EXPECT_GE(outcomes.size(), 3u) << "the settings must change the objects here";
}

TEST(InstanceSearch, CountsEqualSegmentsObjectsAndTheChoiceIsApplied) {
  const fs::path root = test::fresh_dir("instance_search");
  const fs::path data = root / "Dataset002_Cells", run = root / "run";
  test::write_cell_dataset(data, 6, 11);
  RunConfig cfg = test::cell_run();
  cfg.train.val_fraction = 0.5;
  cfg.train.epochs = 2;
  train(test::quiet_train_options(data, run, cfg));
  const std::vector<std::string> val =
      training::read_checkpoint((run / "checkpoint.safetensors").string()).val_cases;
  ASSERT_EQ(val.size(), 3u);

  // useg crossval of a single instance run: its validation objects, the mean F1 at IoU 0.5 of
  // the run's own final validation summary.
  auto r = run_useg("crossval --run " + quote(run) + " --data " + quote(data));
  ASSERT_EQ(r.code, 0) << r.output;
  const nlohmann::json fv =
      nlohmann::json::parse(read_file((run / "validation" / "summary.json").string()));
  double mean_f1 = 0;
  for (const auto& c : fv.at("cases")) mean_f1 += c.at("rows").at(0).at("f1").get<double>() / 3;
  const nlohmann::json cv =
      nlohmann::json::parse(read_file((run / "crossval_summary.json").string()));
  EXPECT_EQ(cv.at("mode"), "instances");
  EXPECT_NEAR(cv.at("score").get<double>(), mean_f1, 1e-9);
  EXPECT_EQ(cv.at("not_validated").size(), 3u) << "the training cases";

  r = run_useg("find-postprocess --run " + quote(run) + " --data " + quote(data) + " --threads 1");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("run: 3 validation case(s), predicted by"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("(the model's)"), std::string::npos) << r.output;
  const nlohmann::json j = nlohmann::json::parse(read_file((run / "postprocess.json").string()));
  EXPECT_EQ(j.at("criterion"), "pooled F1 at IoU 0.5");
  const ModelInfo info = load_model_info((run / "best" / "model.json").string());
  EXPECT_EQ(j.at("diameter").get<double>(), info.instances.diameter);
  const nlohmann::json& cands = j.at("candidates");
  const std::vector<InstanceSettings> grid =
      instance_candidates(info.instances, info.instances.diameter, 2);
  ASSERT_EQ(cands.size(), grid.size());
  for (size_t c = 0; c < grid.size(); ++c) {
    const InstanceSettings s = settings_of(cands[c]);
    EXPECT_EQ(s.fill_holes, grid[c].fill_holes);
    EXPECT_EQ(s.seed_split, grid[c].seed_split);
    EXPECT_EQ(s.min_size, grid[c].min_size);
  }

  // The choice: the highest F1, the model's settings (first) and then the earlier kept on ties.
  size_t best = 0;
  std::set<double> f1s;
  for (size_t c = 0; c < cands.size(); ++c) {
    f1s.insert(cands[c]["f1"].get<double>());
    if (cands[c]["f1"].get<double>() > cands[best]["f1"].get<double>()) best = c;
  }
  EXPECT_GT(f1s.size(), 1u) << "the settings must matter on these cases";
  EXPECT_EQ(j.at("chosen"), nlohmann::json({{"fill_holes", cands[best]["fill_holes"]},
                                            {"seed_split", cands[best]["seed_split"]},
                                            {"seed_min_size", cands[best]["seed_min_size"]},
                                            {"min_size", cands[best]["min_size"]}}));

  // Candidates that vary every axis, checked against segment's files: the model's, the chosen,
  // the worst, the largest min_size, fill_holes flipped, a seed_split with seed_min_size.
  size_t worst = 0;
  for (size_t c = 0; c < cands.size(); ++c)
    if (cands[c]["f1"].get<double>() < cands[worst]["f1"].get<double>()) worst = c;
  std::set<size_t> check{0, best, worst};
  auto first_where = [&](auto pred) {
    for (size_t c = 1; c < cands.size(); ++c)
      if (pred(settings_of(cands[c]))) return c;
    return size_t(0);
  };
  check.insert(first_where([&](const InstanceSettings& s) {
    return s.min_size == settings_of(cands.back()).min_size && s.min_size > 0;
  }));
  check.insert(first_where([&](const InstanceSettings& s) {
    return s.fill_holes != info.instances.fill_holes && s.seed_split > 0;
  }));
  check.insert(first_where([&](const InstanceSettings& s) {
    return s.seed_split == settings_of(cands[cands.size() / 2 - 1]).seed_split &&
           s.seed_min_size > 0 && s.min_size > 0;
  }));
  std::string inputs;
  for (const std::string& name : val)
    inputs += " " + quote(data / "imagesTr" / (name + "_0000.nii.gz"));
  for (size_t c : check) {
    SCOPED_TRACE("candidate " + std::to_string(c) + ": " + cands[c].dump());
    const fs::path model = root / ("model_" + std::to_string(c)),
                   seg = root / ("seg_" + std::to_string(c));
    fs::create_directories(model);
    fs::copy_file(run / "best" / "weights.safetensors", model / "weights.safetensors");
    ModelInfo m = info;
    const InstanceSettings s = settings_of(cands[c]);
    m.instances.fill_holes = s.fill_holes;
    m.instances.seed_split = s.seed_split;
    m.instances.seed_min_size = s.seed_min_size;
    m.instances.min_size = s.min_size;
    write_file_atomic((model / "model.json").string(), to_json_string(m) + "\n");
    auto sr = run_useg("segment --model " + quote(model) + " --input" + inputs + " --output " +
                       quote(seg) + " --instances --threads 1");
    ASSERT_EQ(sr.code, 0) << sr.output;
    InstanceScores pooled;
    for (size_t i = 0; i < val.size(); ++i) {
      const Image pred = read_image((seg / (val[i] + "_instances.nii.gz")).string());
      const Image ref = read_image((data / "labelsTr" / (val[i] + ".nii.gz")).string());
      const InstanceScores one = match_instances(instance_overlap(pred.voxels, ref.voxels), 0.5);
      EXPECT_NEAR(cands[c]["case_f1"][i].get<double>(), one.f1, 1e-9) << val[i];
      pooled.n_ref += one.n_ref;
      pooled.n_pred += one.n_pred;
      pooled.tp += one.tp;
      pooled.sum_matched_iou += one.sum_matched_iou;
    }
    finish_instance_scores(pooled);
    EXPECT_EQ(cands[c]["tp"].get<int64_t>(), pooled.tp);
    EXPECT_EQ(cands[c]["fp"].get<int64_t>(), pooled.fp);
    EXPECT_EQ(cands[c]["fn"].get<int64_t>(), pooled.fn);
    EXPECT_NEAR(cands[c]["f1"].get<double>(), pooled.f1, 1e-9);
    EXPECT_NEAR(cands[c]["panoptic_quality"].get<double>(), pooled.panoptic_quality, 1e-9);
  }
  EXPECT_GE(check.size(), 4u);

  // --apply: best/ and last/ get the chosen settings; the rest of instances stays.
  r = run_useg("find-postprocess --run " + quote(run) + " --data " + quote(data) +
               " --threads 1 --apply --output " + quote(root / "again.json"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(read_file((root / "again.json").string()),
            read_file((run / "postprocess.json").string()))
      << "deterministic";
  const InstanceSettings chosen = settings_of(j.at("chosen"));
  for (const char* sub : {"best", "last"}) {
    const ModelInfo m = load_model_info((run / sub / "model.json").string());
    EXPECT_EQ(m.instances.fill_holes, chosen.fill_holes) << sub;
    EXPECT_EQ(m.instances.seed_split, chosen.seed_split) << sub;
    EXPECT_EQ(m.instances.seed_min_size, chosen.seed_min_size) << sub;
    EXPECT_EQ(m.instances.min_size, chosen.min_size) << sub;
    EXPECT_EQ(m.instances.boundary_width, info.instances.boundary_width) << sub;
    EXPECT_EQ(m.instances.diameter, info.instances.diameter) << sub;
  }

  // Errors name the file: a model without a recorded diameter; runs whose settings differ.
  const fs::path other = root / "other";
  fs::copy(run, other, fs::copy_options::recursive);
  ModelInfo no_d = load_model_info((other / "best" / "model.json").string());
  no_d.instances.diameter = 0;
  write_file_atomic((other / "best" / "model.json").string(), to_json_string(no_d) + "\n");
  r = run_useg("find-postprocess --run " + quote(other) + " --data " + quote(data) +
               " --threads 1");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(
      r.output.find((other / "best" / "model.json").string() + " records no instances.diameter"),
      std::string::npos)
      << r.output;
  no_d.instances.diameter = info.instances.diameter;
  no_d.instances.min_size += 1;
  write_file_atomic((other / "best" / "model.json").string(), to_json_string(no_d) + "\n");
  r = run_useg("find-postprocess --run " + quote(run) + " --run " + quote(other) + " --data " +
               quote(data) + " --threads 1");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find((other / "best" / "model.json").string() +
                          "'s split settings differ from " + run.string()),
            std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace useg
