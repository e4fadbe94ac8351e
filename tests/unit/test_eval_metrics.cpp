// Hand-computed cases of the per-label metrics: cubes at known offsets with anisotropic spacing,
// empty masks, single voxels, the surface Dice tolerance, and agreement with the trainer's Dice.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "util/stats.h"
#include "eval_test_util.h"
#include "useg/error.h"
#include "useg/metrics.h"

namespace useg {
namespace {

using test::fill_box;
using test::grid;
using test::label_map;

// 16 x 12 x 20 voxels of 0.5 x 1 x 2 mm (1 mm^3 each); the reference is the cube x, y, z in 4..7.
Geometry cube_grid() { return grid(3, {16, 12, 20}, {0.5, 1.0, 2.0}); }

Tensor cube_at(int64_t x0, int64_t y0, int64_t z0) {
  Tensor t = label_map(cube_grid(), [](int64_t, int64_t, int64_t) { return 0; });
  fill_box(t, x0, y0, z0, 4, 4, 4, 1);
  return t;
}

LabelMetrics eval_one(const Tensor& pred, const Tensor& ref, const Geometry& g, double tol = 1.0) {
  LabelEvalOptions o;
  o.tolerance_mm = tol;
  auto m = evaluate_labels(pred, ref, g, {1}, o);
  EXPECT_EQ(m.size(), 1u);
  return m.at(0);
}

TEST(EvalMetrics, CubeShiftedOneVoxelAlongX) {
  // Overlap 3 x 4 x 4 = 48 of 64. The new x face of each cube is 0.5 mm (one x step) from the
  // other's face; so are the 4 inner voxels of each cube's far x face. 20 of the 56 surface
  // voxels per side are at 0.5 mm, the rest coincide with the other surface.
  const LabelMetrics m = eval_one(cube_at(5, 4, 4), cube_at(4, 4, 4), cube_grid(), 0.4);
  EXPECT_EQ(m.counts.tp, 48);
  EXPECT_EQ(m.counts.fp(), 16);
  EXPECT_EQ(m.counts.fn(), 16);
  EXPECT_DOUBLE_EQ(m.dice, 0.75);
  EXPECT_DOUBLE_EQ(m.iou, 0.6);
  EXPECT_DOUBLE_EQ(m.precision, 0.75);
  EXPECT_DOUBLE_EQ(m.recall, 0.75);
  EXPECT_DOUBLE_EQ(m.ref_mm3, 64.0);
  EXPECT_DOUBLE_EQ(m.vol_diff_mm3, 0.0);
  EXPECT_NEAR(m.hd, 0.5, 1e-6);
  EXPECT_NEAR(m.hd95, 0.5, 1e-6);
  EXPECT_NEAR(m.assd, 20 * 0.5 * 2 / 112.0, 1e-6);
  EXPECT_NEAR(m.nsd, 72.0 / 112.0, 1e-12);  // 0.4 mm excludes the 0.5 mm voxels
  EXPECT_EQ(m.empty, EmptyCase::None);
  EXPECT_DOUBLE_EQ(eval_one(cube_at(5, 4, 4), cube_at(4, 4, 4), cube_grid(), 0.5).nsd, 1.0);
}

TEST(EvalMetrics, CubesApartAlongZ) {
  // The prediction is 5 slices (10 mm) above the reference. Every surface voxel of a layer is
  // (layer gap) x 2 mm from the other cube's nearest full face: layers of 16, 12, 12 and 16
  // surface voxels at 4, 6, 8 and 10 mm on each side.
  const LabelMetrics m = eval_one(cube_at(4, 4, 9), cube_at(4, 4, 4), cube_grid(), 5.0);
  EXPECT_EQ(m.counts.tp, 0);
  EXPECT_DOUBLE_EQ(m.dice, 0.0);
  EXPECT_DOUBLE_EQ(m.iou, 0.0);
  EXPECT_NEAR(m.hd, 10.0, 1e-6);
  EXPECT_NEAR(m.hd95, 10.0, 1e-6);
  EXPECT_NEAR(m.assd, (16 * 4 + 12 * 6 + 12 * 8 + 16 * 10) / 56.0, 1e-6);  // 7 mm
  EXPECT_NEAR(m.nsd, 32.0 / 112.0, 1e-12);  // only the 4 mm layers are within 5 mm
  EXPECT_NEAR(eval_one(cube_at(4, 4, 9), cube_at(4, 4, 4), cube_grid(), 4.0).nsd, 32.0 / 112.0,
              1e-12);  // a distance equal to the tolerance counts
  EXPECT_DOUBLE_EQ(eval_one(cube_at(4, 4, 9), cube_at(4, 4, 4), cube_grid(), 3.9).nsd, 0.0);
  EXPECT_DOUBLE_EQ(eval_one(cube_at(4, 4, 9), cube_at(4, 4, 4), cube_grid(), 10.0).nsd, 1.0);
}

TEST(EvalMetrics, HausdorffPercentileUsesEachDirection) {
  // 95th percentile of 56 values per direction (16 x 4, 12 x 6, 12 x 8, 16 x 10 mm): position
  // 0.95 * 55 = 52.25 falls in the 10 mm group; position 39.5 lies between the last 8 mm and the
  // first 10 mm value.
  std::vector<double> v;
  for (auto [n, d] : {std::pair{16, 4.0}, {12, 6.0}, {12, 8.0}, {16, 10.0}})
    for (int i = 0; i < n; ++i) v.push_back(d);
  EXPECT_DOUBLE_EQ(percentile(v, 95), 10.0);
  EXPECT_DOUBLE_EQ(percentile(v, 70), 8.0);  // position 38.5
  EXPECT_NEAR(percentile(v, 100 * 39.5 / 55), 9.0, 1e-9);
  EXPECT_DOUBLE_EQ(percentile(std::vector<double>{1.0, 2.0, 3.0, 4.0}, 50), 2.5);
  EXPECT_DOUBLE_EQ(percentile(std::vector<double>{7.0}, 95), 7.0);
  EXPECT_TRUE(std::isnan(percentile(std::vector<double>{}, 95)));
}

TEST(EvalMetrics, SingleVoxels) {
  const Geometry g = cube_grid();
  auto one = [&g](int64_t x, int64_t y, int64_t z) {
    return label_map(g,
                     [=](int64_t a, int64_t b, int64_t c) { return a == x && b == y && c == z; });
  };
  const LabelMetrics same = eval_one(one(3, 3, 3), one(3, 3, 3), g, 0.0);
  EXPECT_DOUBLE_EQ(same.dice, 1.0);
  EXPECT_DOUBLE_EQ(same.hd, 0.0);
  EXPECT_DOUBLE_EQ(same.assd, 0.0);
  EXPECT_DOUBLE_EQ(same.nsd, 1.0);
  const LabelMetrics diag = eval_one(one(4, 4, 4), one(3, 3, 3), g);
  EXPECT_DOUBLE_EQ(diag.dice, 0.0);
  const double d = std::sqrt(0.5 * 0.5 + 1.0 + 2.0 * 2.0);
  EXPECT_NEAR(diag.hd, d, 1e-6);
  EXPECT_NEAR(diag.hd95, d, 1e-6);
  EXPECT_NEAR(diag.assd, d, 1e-6);
  EXPECT_DOUBLE_EQ(diag.nsd, 0.0);
}

TEST(EvalMetrics, EmptyMasks) {
  const Geometry g = cube_grid();
  const Tensor none = label_map(g, [](int64_t, int64_t, int64_t) { return 0; });
  const Tensor cube = cube_at(4, 4, 4);

  const LabelMetrics miss = eval_one(none, cube, g);  // prediction empty
  EXPECT_EQ(miss.empty, EmptyCase::Pred);
  EXPECT_DOUBLE_EQ(miss.dice, 0.0);
  EXPECT_DOUBLE_EQ(miss.iou, 0.0);
  EXPECT_DOUBLE_EQ(miss.precision, 0.0);
  EXPECT_DOUBLE_EQ(miss.recall, 0.0);
  EXPECT_DOUBLE_EQ(miss.vol_diff_mm3, -64.0);
  EXPECT_DOUBLE_EQ(miss.vol_diff_rel, -1.0);
  EXPECT_TRUE(std::isnan(miss.hd) && std::isnan(miss.hd95) && std::isnan(miss.assd));
  EXPECT_DOUBLE_EQ(miss.nsd, 0.0);

  const LabelMetrics spurious = eval_one(cube, none, g);  // reference empty
  EXPECT_EQ(spurious.empty, EmptyCase::Ref);
  EXPECT_DOUBLE_EQ(spurious.dice, 0.0);
  EXPECT_DOUBLE_EQ(spurious.recall, 0.0);
  EXPECT_DOUBLE_EQ(spurious.vol_diff_mm3, 64.0);
  EXPECT_TRUE(std::isnan(spurious.vol_diff_rel));
  EXPECT_TRUE(std::isnan(spurious.hd));
  EXPECT_DOUBLE_EQ(spurious.nsd, 0.0);

  const LabelMetrics both = eval_one(none, none, g);
  EXPECT_EQ(both.empty, EmptyCase::Both);
  EXPECT_STREQ(empty_case_name(both.empty), "empty_both");
  for (double v : {both.dice, both.iou, both.precision, both.recall, both.nsd})
    EXPECT_DOUBLE_EQ(v, 1.0);
  EXPECT_DOUBLE_EQ(both.vol_diff_mm3, 0.0);
  EXPECT_DOUBLE_EQ(both.vol_diff_rel, 0.0);
  EXPECT_TRUE(std::isnan(both.hd) && std::isnan(both.assd));
}

TEST(EvalMetrics, SurfaceIsFaceConnectedBoundaryIn2D) {
  // A 3 x 3 square: 8 boundary pixels (4-neighbourhood), the centre is inside. A mask on the
  // image border has its surface there.
  const Geometry g = grid(2, {5, 4, 1}, {0.3, 0.6, 1.0});
  Tensor t = label_map(g, [](int64_t x, int64_t y, int64_t) { return x >= 1 && x <= 3 && y <= 2; });
  const auto m = test::mask_of(t, 1);
  const auto s = surface_voxels(m.data(), g);
  int count = 0;
  for (uint8_t v : s) count += v;
  EXPECT_EQ(count, 8);
  EXPECT_EQ(s[1 * 5 + 2], 0);  // centre (2, 1)
  EXPECT_EQ(s[0 * 5 + 2], 1);  // (2, 0) touches the image border
}

TEST(EvalMetrics, TwoDimensionalSquaresWithAnisotropicSpacing) {
  // 2D squares 4 x 4 with the prediction shifted by 1 pixel in y (0.6 mm): HD 0.6 mm.
  const Geometry g = grid(2, {12, 12, 1}, {0.3, 0.6, 1.0});
  Tensor ref = label_map(g, [](int64_t, int64_t, int64_t) { return 0; });
  Tensor pred = ref.clone();
  fill_box(ref, 3, 3, 0, 4, 4, 1, 1);
  fill_box(pred, 3, 4, 0, 4, 4, 1, 1);
  const LabelMetrics m = eval_one(pred, ref, g);
  EXPECT_DOUBLE_EQ(m.dice, 0.75);
  EXPECT_DOUBLE_EQ(m.ref_mm3, 16 * 0.3 * 0.6);  // an area in 2D
  EXPECT_NEAR(m.hd, 0.6, 1e-6);
  // Each side, of 12 surface pixels: the moved edge (4 pixels) is 0.6 mm from the other square's
  // edge; the 2 inner pixels of the opposite edge lie inside the other square, 0.3 mm (one x
  // step) from its side edges; the rest coincide with the other surface.
  EXPECT_NEAR(m.assd, 2 * (4 * 0.6 + 2 * 0.3) / 24.0, 1e-6);
  EXPECT_NEAR(m.hd95, 0.6, 1e-6);
}

TEST(EvalMetrics, SurfaceDistancesMatchNaiveReference) {
  for (int dims : {2, 3}) {
    const Geometry g =
        dims == 3 ? grid(3, {22, 19, 13}, {0.7, 1.3, 2.1}) : grid(2, {41, 33, 1}, {0.45, 1.7, 1.0});
    for (uint32_t seed = 1; seed <= 4; ++seed) {
      Tensor pred, ref;
      test::random_blob_pair(g, seed, 1, pred, ref);
      const auto a = test::mask_of(pred, 1), b = test::mask_of(ref, 1);
      const SurfaceDistances d = surface_distances(a.data(), b.data(), g);
      const auto ab = test::naive_directed(a, b, g), ba = test::naive_directed(b, a, g);
      ASSERT_EQ(d.pred_to_ref.size(), ab.size()) << dims << "D seed " << seed;
      ASSERT_EQ(d.ref_to_pred.size(), ba.size()) << dims << "D seed " << seed;
      for (size_t i = 0; i < ab.size(); ++i)
        ASSERT_NEAR(d.pred_to_ref[i], ab[i], 1e-5 * (1 + ab[i]));
      for (size_t i = 0; i < ba.size(); ++i)
        ASSERT_NEAR(d.ref_to_pred[i], ba[i], 1e-5 * (1 + ba[i]));
    }
  }
}

TEST(EvalMetrics, DiceAgreesWithTrainerDicePerClass) {
  const Geometry g = grid(3, {17, 14, 9}, {0.8, 0.8, 3.0});
  std::mt19937 rng(7);
  Tensor pred, ref;
  test::random_blob_pair(g, 11, 3, pred, ref);
  // Some noise so that every class has scattered errors.
  for (int64_t i = 0; i < pred.numel(); i += 1 + static_cast<int64_t>(rng() % 13))
    pred.data()[i] = static_cast<float>(rng() % 4);
  const std::vector<double> trainer = dice_per_class(pred, ref, 5);  // class 4 absent from both
  const std::vector<LabelMetrics> eval = evaluate_labels(pred, ref, g, {0, 1, 2, 3, 4});
  ASSERT_EQ(eval.size(), 5u);
  for (int k = 0; k < 5; ++k) EXPECT_DOUBLE_EQ(eval[k].dice, trainer[k]) << "class " << k;
  EXPECT_DOUBLE_EQ(trainer[4], 1.0);
}

TEST(EvalMetrics, LabelImageCheck) {
  const Geometry g = grid(2, {3, 2, 1}, {1, 1, 1});
  Tensor t = label_map(g, [](int64_t x, int64_t, int64_t) { return static_cast<int>(x * 3); });
  EXPECT_EQ(check_label_image(t, "t.nii"), 6);
  t.data()[4] = 2.5f;
  try {
    check_label_image(t, "t.nii");
    ADD_FAILURE() << "a fractional voxel was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("t.nii is not a label image: voxel 4 holds 2.5"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace useg
