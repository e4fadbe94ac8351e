// Object matching of instance images on a hand-made 2D case: a perfect match, a partial match,
// a split object, a merged pair, a false positive and a missed object.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "common/csv.h"
#include "eval_test_util.h"
#include "useg/eval.h"
#include "useg/metrics.h"

namespace useg {
namespace {

using test::fill_box;

struct Scene {
  Tensor pred, ref;
};

// Reference objects 1..6, predicted objects 11..16 (boxes x0, y0, w, h):
//   R1 (1,1,4,4)   P11 (1,1,4,4)              IoU 1
//   R2 (8,1,4,4)   P12 (8,1,5,4)              IoU 16/20 = 0.8
//   R3 (15,1,6,4)  split: P13 (15,1,2,4), P14 (19,1,2,4)   IoU 8/24 = 1/3 each
//   R4 (1,8,4,4) + R5 (5,8,2,4)  merged: P15 (1,8,6,4)     IoU 16/24 = 2/3 and 8/24 = 1/3
//   P16 (10,8,3,3) no reference; R6 (15,8,3,3) no prediction
Scene scene() {
  const Geometry g = test::grid(2, {24, 14, 1}, {0.5, 0.5, 1});
  Scene s;
  s.ref = test::label_map(g, [](int64_t, int64_t, int64_t) { return 0; });
  s.pred = s.ref.clone();
  fill_box(s.ref, 1, 1, 0, 4, 4, 1, 1);
  fill_box(s.pred, 1, 1, 0, 4, 4, 1, 11);
  fill_box(s.ref, 8, 1, 0, 4, 4, 1, 2);
  fill_box(s.pred, 8, 1, 0, 5, 4, 1, 12);
  fill_box(s.ref, 15, 1, 0, 6, 4, 1, 3);
  fill_box(s.pred, 15, 1, 0, 2, 4, 1, 13);
  fill_box(s.pred, 19, 1, 0, 2, 4, 1, 14);
  fill_box(s.ref, 1, 8, 0, 4, 4, 1, 4);
  fill_box(s.ref, 5, 8, 0, 2, 4, 1, 5);
  fill_box(s.pred, 1, 8, 0, 6, 4, 1, 15);
  fill_box(s.pred, 10, 8, 0, 3, 3, 1, 16);
  fill_box(s.ref, 15, 8, 0, 3, 3, 1, 6);
  return s;
}

TEST(EvalInstances, OverlapTable) {
  const Scene s = scene();
  const InstanceOverlap o = instance_overlap(s.pred, s.ref);
  EXPECT_EQ(o.pred_ids, (std::vector<int>{11, 12, 13, 14, 15, 16}));
  EXPECT_EQ(o.ref_ids, (std::vector<int>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(o.ref_sizes, (std::vector<int64_t>{16, 16, 24, 16, 8, 9}));
  ASSERT_EQ(o.pairs.size(), 6u);  // 11-1, 12-2, 13-3, 14-3, 15-4, 15-5
  EXPECT_DOUBLE_EQ(o.pairs[1].iou, 0.8);
  EXPECT_DOUBLE_EQ(o.pairs[5].iou, 1.0 / 3);
}

TEST(EvalInstances, MatchingAtHalf) {
  const Scene s = scene();
  const InstanceScores m = match_instances(instance_overlap(s.pred, s.ref), 0.5);
  EXPECT_EQ(m.n_ref, 6);
  EXPECT_EQ(m.n_pred, 6);
  EXPECT_EQ(m.tp, 3);  // 11-1, 12-2, 15-4
  EXPECT_EQ(m.fp, 3);  // 13, 14 (split halves), 16
  EXPECT_EQ(m.fn, 3);  // 3 (split), 5 (merged away), 6
  EXPECT_EQ(m.matches, (std::vector<std::pair<int, int>>{{11, 1}, {12, 2}, {15, 4}}));
  EXPECT_DOUBLE_EQ(m.precision, 0.5);
  EXPECT_DOUBLE_EQ(m.recall, 0.5);
  EXPECT_DOUBLE_EQ(m.f1, 0.5);
  EXPECT_DOUBLE_EQ(m.accuracy, 3.0 / 9);
  EXPECT_NEAR(m.mean_matched_iou, (1 + 0.8 + 2.0 / 3) / 3, 1e-12);
  EXPECT_NEAR(m.panoptic_quality, (1 + 0.8 + 2.0 / 3) / (3 + 1.5 + 1.5), 1e-12);
}

TEST(EvalInstances, LowThresholdStaysOneToOne) {
  // At IoU >= 0.3 the split halves both qualify for R3 and P15 qualifies for R4 and R5: one
  // match each, P15 going to R4 (the larger IoU).
  const Scene s = scene();
  const InstanceScores m = match_instances(instance_overlap(s.pred, s.ref), 0.3);
  EXPECT_EQ(m.tp, 4);
  EXPECT_EQ(m.fp, 2);
  EXPECT_EQ(m.fn, 2);
  int to_r3 = 0;
  bool p15_r4 = false;
  for (auto [p, r] : m.matches) {
    to_r3 += r == 3;
    p15_r4 = p15_r4 || (p == 15 && r == 4);
  }
  EXPECT_EQ(to_r3, 1);
  EXPECT_TRUE(p15_r4);
  EXPECT_NEAR(m.mean_matched_iou, (1 + 0.8 + 2.0 / 3 + 1.0 / 3) / 4, 1e-12);
}

TEST(EvalInstances, HighThreshold) {
  const Scene s = scene();
  const InstanceScores m = match_instances(instance_overlap(s.pred, s.ref), 0.9);
  EXPECT_EQ(m.tp, 1);
  EXPECT_EQ(m.fp, 5);
  EXPECT_EQ(m.fn, 5);
}

TEST(EvalInstances, MergeOfEqualHalvesAtExactlyHalf) {
  // P covers R1 and R2 of equal size: IoU 0.5 with each; at >= 0.5 only one may match.
  const Geometry g = test::grid(2, {6, 3, 1}, {1, 1, 1});
  Tensor ref = test::label_map(
      g, [](int64_t x, int64_t y, int64_t) { return y == 0 && x < 4 ? (x < 2 ? 1 : 2) : 0; });
  Tensor pred = test::label_map(g, [](int64_t x, int64_t y, int64_t) { return y == 0 && x < 4; });
  const InstanceScores m = match_instances(instance_overlap(pred, ref), 0.5);
  EXPECT_EQ(m.tp, 1);
  EXPECT_EQ(m.fp, 0);
  EXPECT_EQ(m.fn, 1);
  EXPECT_DOUBLE_EQ(m.mean_matched_iou, 0.5);
}

// Best (matches, summed IoU) over all one-to-one matchings of preds i.. by exhaustive search.
std::pair<int, double> brute_best(const std::vector<std::vector<double>>& iou, double t, size_t i,
                                  std::vector<char>& used) {
  if (i == iou.size()) return {0, 0.0};
  std::pair<int, double> best = brute_best(iou, t, i + 1, used);  // pred i unmatched
  for (size_t r = 0; r < used.size(); ++r) {
    if (used[r] || iou[i][r] < t) continue;
    used[r] = 1;
    auto sub = brute_best(iou, t, i + 1, used);
    used[r] = 0;
    sub.first += 1;
    sub.second += iou[i][r];
    if (sub.first > best.first || (sub.first == best.first && sub.second > best.second + 1e-12))
      best = sub;
  }
  return best;
}

TEST(EvalInstances, MatchingIsOptimalOnRandomTables) {
  // Random IoU tables (not all realisable by images, which does not matter to the matching):
  // the number of matches and then the summed IoU must equal the exhaustive optimum.
  std::mt19937 rng(3);
  for (int trial = 0; trial < 300; ++trial) {
    const int np = 1 + static_cast<int>(rng() % 6), nr = 1 + static_cast<int>(rng() % 6);
    InstanceOverlap o;
    for (int i = 0; i < np; ++i) o.pred_ids.push_back(10 + i), o.pred_sizes.push_back(1);
    for (int r = 0; r < nr; ++r) o.ref_ids.push_back(1 + r), o.ref_sizes.push_back(1);
    std::vector<std::vector<double>> iou(np, std::vector<double>(nr, 0.0));
    for (int i = 0; i < np; ++i)
      for (int r = 0; r < nr; ++r)
        if (rng() % 2) {
          iou[i][r] = std::uniform_real_distribution<double>(0.05, 0.6)(rng);
          o.pairs.push_back({i, r, 1, iou[i][r]});
        }
    for (double t : {0.1, 0.3, 0.5}) {
      std::vector<char> used(nr, 0);
      const auto best = brute_best(iou, t, 0, used);
      const InstanceScores m = match_instances(o, t);
      ASSERT_EQ(m.tp, best.first) << "trial " << trial << " threshold " << t;
      ASSERT_NEAR(m.sum_matched_iou, best.second, 1e-9) << "trial " << trial << " threshold " << t;
    }
  }
}

TEST(EvalInstances, EmptyImages) {
  const Geometry g = test::grid(2, {4, 4, 1}, {1, 1, 1});
  const Tensor none = test::label_map(g, [](int64_t, int64_t, int64_t) { return 0; });
  const InstanceScores both = match_instances(instance_overlap(none, none), 0.5);
  EXPECT_DOUBLE_EQ(both.f1, 1.0);
  EXPECT_DOUBLE_EQ(both.accuracy, 1.0);
  EXPECT_TRUE(std::isnan(both.mean_matched_iou));
  const Tensor one = test::label_map(g, [](int64_t x, int64_t, int64_t) { return x == 1 ? 7 : 0; });
  const InstanceScores missed = match_instances(instance_overlap(none, one), 0.5);
  EXPECT_EQ(missed.fn, 1);
  EXPECT_DOUBLE_EQ(missed.precision, 0.0);
  EXPECT_DOUBLE_EQ(missed.recall, 0.0);
  EXPECT_DOUBLE_EQ(missed.f1, 0.0);
}

// AP (TP / (TP + FP + FN)) at the default thresholds 0.5 ... 0.9 and the rows averaging them,
// on the scene above (case "scene") and a perfect prediction (case "perfect"). By hand, per
// threshold on the scene (pairs: 11-1 IoU 1, 12-2 0.8, 15-4 2/3, the rest 1/3):
//   t    TP FP FN  AP     F1    PQ
//   0.5  3  3  3   1/3    1/2   (1 + 0.8 + 2/3) / 6 = 37/90
//   0.6  3  3  3   1/3    1/2   37/90
//   0.7  2  4  4   1/5    1/3   1.8 / 6 = 3/10
//   0.8  2  4  4   1/5    1/3   3/10          (IoU 0.8 reaches the threshold)
//   0.9  1  5  5   1/11   1/6   1 / 6
//   mean           191/825  11/30  143/450
// Pooled with the perfect case (6 objects, IoU 1): AP 9/15, 9/15, 8/16, 8/16, 7/17, mean 222/425.
TEST(EvalInstances, AveragePrecisionOverThresholds) {
  const Scene s = scene();
  EvalReport r;
  r.options.instances = true;
  ASSERT_EQ(r.options.iou_thresholds, (std::vector<double>{0.5, 0.6, 0.7, 0.8, 0.9}));
  for (const auto& [name, pred] : {std::pair<std::string, Tensor>{"perfect", s.ref},
                                   {"scene", s.pred}}) {
    CaseResult c;
    c.pair = {name, name + "_pred", name};
    const InstanceOverlap o = instance_overlap(pred, s.ref);
    for (double t : r.options.iou_thresholds) c.instances.push_back(match_instances(o, t));
    r.cases.push_back(c);
  }
  const std::vector<test::CsvRow> rows = test::parse_csv(format_csv(r));
  ASSERT_EQ(rows.size(), 2u * 6 + 5 * 2 + 2);
  auto num = [](const test::CsvRow& row, const char* k) { return std::stod(row.at(k)); };
  const double ap[] = {1.0 / 3, 1.0 / 3, 0.2, 0.2, 1.0 / 11};
  const double pq[] = {37.0 / 90, 37.0 / 90, 0.3, 0.3, 1.0 / 6};
  for (int t = 0; t < 5; ++t) {
    const test::CsvRow& row = rows[6 + t];
    EXPECT_EQ(row.at("case"), "scene");
    EXPECT_NEAR(num(row, "accuracy"), ap[t], 1e-9) << "threshold " << row.at("iou_threshold");
    EXPECT_NEAR(num(row, "panoptic_quality"), pq[t], 1e-9) << row.at("iou_threshold");
    EXPECT_EQ(rows[t].at("accuracy"), "1");  // perfect
  }
  const test::CsvRow& over = rows[11];
  EXPECT_EQ(over.at("case"), "scene");
  EXPECT_EQ(over.at("iou_threshold"), "mean");
  EXPECT_NEAR(num(over, "accuracy"), 191.0 / 825, 1e-9);
  EXPECT_NEAR(num(over, "f1"), 11.0 / 30, 1e-9);
  EXPECT_NEAR(num(over, "panoptic_quality"), 143.0 / 450, 1e-9);
  EXPECT_EQ(rows[5].at("iou_threshold"), "mean");
  EXPECT_EQ(rows[5].at("accuracy"), "1");
  // Summary: mean and pooled per threshold, then both averaged over the thresholds.
  EXPECT_EQ(rows[12].at("case"), "mean");
  EXPECT_NEAR(num(rows[12], "accuracy"), (1 + 1.0 / 3) / 2, 1e-9);
  EXPECT_EQ(rows[13].at("case"), "pooled");
  EXPECT_NEAR(num(rows[13], "accuracy"), 9.0 / 15, 1e-9);
  EXPECT_NEAR(num(rows[21], "accuracy"), 7.0 / 17, 1e-9);
  EXPECT_EQ(rows[22].at("case"), "mean");
  EXPECT_EQ(rows[22].at("iou_threshold"), "mean");
  EXPECT_NEAR(num(rows[22], "accuracy"), (191.0 / 825 + 1) / 2, 1e-9);
  EXPECT_EQ(rows[23].at("case"), "pooled");
  EXPECT_EQ(rows[23].at("iou_threshold"), "mean");
  EXPECT_NEAR(num(rows[23], "accuracy"), 222.0 / 425, 1e-9);
  EXPECT_NE(format_summary(r).find("mean   IoU mean  precision"), std::string::npos)
      << format_summary(r);
}

TEST(EvalInstances, OneThresholdHasNoMeanOverThresholds) {
  const Scene s = scene();
  EvalReport r;
  r.options.instances = true;
  r.options.iou_thresholds = {0.5};
  CaseResult c;
  c.pair = {"scene", "p", "r"};
  c.instances.push_back(match_instances(instance_overlap(s.pred, s.ref), 0.5));
  r.cases.push_back(c);
  EXPECT_EQ(test::parse_csv(format_csv(r)).size(), 3u);  // the case, mean, pooled
}

}  // namespace
}  // namespace useg
