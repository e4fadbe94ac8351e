// The three-class instance target (background / interior / boundary) and the seeded-watershed
// split that turns an instance model's classes back into objects, in 2D and in an anisotropic
// 3D volume, on hand-made images.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "eval_test_util.h"
#include "useg/error.h"
#include "useg/labels.h"
#include "useg/metrics.h"

namespace useg {
namespace {

using test::fill_box;
using test::grid;
using test::label_map;

// The class map as rows of digits (y down), for readable expectations in 2D.
std::vector<std::string> rows_of(const Tensor& t, const Geometry& g, int64_t z = 0) {
  std::vector<std::string> out;
  for (int64_t y = 0; y < g.size[1]; ++y) {
    std::string r;
    for (int64_t x = 0; x < g.size[0]; ++x)
      r += static_cast<char>('0' + std::lround(t.at(0, 0, z, y, x)));
    out.push_back(r);
  }
  return out;
}

// One-hot "probabilities" [1, 3, D, H, W] of a class map (what a perfect network would give).
Tensor one_hot(const Tensor& classes) {
  const Shape& s = classes.shape();
  Tensor p = Tensor::zeros(Shape::ncdhw(1, 3, s[2], s[3], s[4]));
  const int64_t n = classes.numel();
  for (int64_t i = 0; i < n; ++i) p.data()[std::lround(classes.data()[i]) * n + i] = 1.f;
  return p;
}

Tensor foreground_of(const Tensor& classes) {
  Tensor f = classes.clone();
  for (int64_t i = 0; i < f.numel(); ++i) f.data()[i] = f.data()[i] > 0 ? 1.f : 0.f;
  return f;
}

int64_t count_objects(const Tensor& ids) {
  float m = 0;
  for (int64_t i = 0; i < ids.numel(); ++i) m = std::max(m, ids.data()[i]);
  return std::lround(m);
}

// Matches of a split against the objects it should give, at IoU >= t.
InstanceScores match(const Tensor& pred, const Tensor& ref, double t) {
  return match_instances(instance_overlap(pred, ref), t);
}

TEST(InstanceTarget, BoundaryRadiusFollowsTheSpacing) {
  EXPECT_EQ(boundary_radius(grid(2, {8, 8, 1}, {0.5, 0.5, 1}), 2), (std::array<int, 3>{2, 2, 0}));
  // 2D: z is not an axis even with a coarse z spacing.
  EXPECT_EQ(boundary_radius(grid(2, {8, 8, 1}, {1, 1, 9}), 1), (std::array<int, 3>{1, 1, 0}));
  // 3D, 0.5 x 0.5 x 2 mm: width 2 = 1 mm, i.e. 2 voxels in-plane and half a voxel in z (-> 1).
  const Geometry a = grid(3, {8, 8, 8}, {0.5, 0.5, 2});
  EXPECT_EQ(boundary_radius(a, 1), (std::array<int, 3>{1, 1, 1}));
  EXPECT_EQ(boundary_radius(a, 4), (std::array<int, 3>{4, 4, 1}));
  EXPECT_EQ(boundary_radius(a, 8), (std::array<int, 3>{8, 8, 2}));
  EXPECT_EQ(boundary_radius(grid(3, {8, 8, 8}, {2, 1, 1}), 2), (std::array<int, 3>{1, 2, 2}));
}

TEST(InstanceTarget, TwoTouchingSquaresWidthOne) {
  // Objects 1 and 7 touch along x = 4 | 5; object 7 also touches the image border at the right.
  const Geometry g = grid(2, {9, 6, 1}, {1, 1, 1});
  Tensor ids = label_map(g, [](int64_t, int64_t, int64_t) { return 0; });
  fill_box(ids, 1, 1, 0, 4, 4, 1, 1);
  fill_box(ids, 5, 1, 0, 4, 4, 1, 7);
  const Tensor t = instance_boundary_target(ids, g, 1);
  EXPECT_EQ(rows_of(t, g), (std::vector<std::string>{"000000000",   //
                                                     "022222222",   //
                                                     "021122111",   // 7's right edge is the
                                                     "021122111",   // image border: interior
                                                     "022222222",   //
                                                     "000000000"}))
      << "the boundary is 1 voxel wide on each side of a contact, none along the image border";
}

TEST(InstanceTarget, WidthOneIsTheFaceNeighbourhood) {
  // An L-shaped object: its inner corner voxel (2, 2) sees the background only diagonally, so
  // with width 1 (the face neighbourhood) it is interior; width 2 reaches it.
  const Geometry g = grid(2, {7, 7, 1}, {1, 1, 1});
  Tensor ids = label_map(g, [](int64_t, int64_t, int64_t) { return 0; });
  fill_box(ids, 0, 0, 0, 6, 6, 1, 3);
  fill_box(ids, 3, 3, 0, 4, 4, 1, 0);
  const Tensor w1 = instance_boundary_target(ids, g, 1);
  EXPECT_FLOAT_EQ(w1.at(0, 0, 0, 2, 2), 1.f);
  EXPECT_FLOAT_EQ(w1.at(0, 0, 0, 2, 3), 2.f);
  EXPECT_FLOAT_EQ(w1.at(0, 0, 0, 0, 0), 1.f);  // the image corner is not a boundary
  const Tensor w2 = instance_boundary_target(ids, g, 2);
  EXPECT_FLOAT_EQ(w2.at(0, 0, 0, 2, 2), 2.f);  // (1, 1) away: 1/4 + 1/4 <= 1
  EXPECT_FLOAT_EQ(w2.at(0, 0, 0, 1, 1), 1.f);  // (2, 2) away: 1 + 1 > 1
  EXPECT_FLOAT_EQ(w2.at(0, 0, 0, 1, 3), 2.f);  // 2 above the background: on the ellipse
}

TEST(InstanceTarget, AnisotropicVolume) {
  // 1 x 1 x 3 mm voxels, boundary width 3 (3 mm): radius 3 voxels in x and y, 1 in z.
  const Geometry g = grid(3, {16, 16, 9}, {1, 1, 3});
  Tensor ids = label_map(g, [](int64_t, int64_t, int64_t) { return 0; });
  fill_box(ids, 1, 1, 1, 14, 14, 7, 5);
  const Tensor t = instance_boundary_target(ids, g, 3);
  EXPECT_FLOAT_EQ(t.at(0, 0, 4, 8, 1), 2.f);   // on the x face
  EXPECT_FLOAT_EQ(t.at(0, 0, 4, 8, 3), 2.f);   // 3 mm inside: still boundary
  EXPECT_FLOAT_EQ(t.at(0, 0, 4, 8, 4), 1.f);   // 4 mm inside: interior
  EXPECT_FLOAT_EQ(t.at(0, 0, 1, 8, 8), 2.f);   // on the z face
  EXPECT_FLOAT_EQ(t.at(0, 0, 2, 8, 8), 1.f);   // one slice (3 mm) inside: interior
  EXPECT_FLOAT_EQ(t.at(0, 0, 0, 8, 8), 0.f);
}

TEST(InstanceTarget, RejectsValuesThatAreNotIds) {
  const Geometry g = grid(2, {4, 4, 1}, {1, 1, 1});
  Tensor ids = label_map(g, [](int64_t x, int64_t, int64_t) { return x; });
  ids.at(0, 0, 0, 1, 2) = 2.5f;
  try {
    instance_boundary_target(ids, g, 1);
    FAIL() << "a fractional id was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("voxel 6 holds 2.5, not an object id"),
              std::string::npos)
        << e.what();
  }
}

// Two discs of radius 6 whose centres are 11 apart overlap: the reference gives the lens to the
// nearer centre (a straight cut), as annotators draw touching nuclei.
Tensor touching_discs(const Geometry& g) {
  return label_map(g, [](int64_t x, int64_t y, int64_t) {
    const double d1 = std::hypot(x - 10.0, y - 10.0), d2 = std::hypot(x - 21.0, y - 10.0);
    if (d1 > 6 && d2 > 6) return 0;
    return d1 <= d2 ? 1 : 2;
  });
}

TEST(InstanceSplit, TouchingDiscsFromAPerfectPrediction) {
  const Geometry g = grid(2, {32, 21, 1}, {0.5, 0.5, 1});
  const Tensor ref = touching_discs(g);
  const Tensor target = instance_boundary_target(ref, g, 2);
  InstanceSettings s;
  const Tensor split = split_instances(foreground_of(target), one_hot(target), g, s);
  EXPECT_EQ(count_objects(split), 2);
  const InstanceScores m = match(split, ref, 0.9);
  EXPECT_EQ(m.tp, 2);
  EXPECT_GT(m.mean_matched_iou, 0.95);
  // Connected components cannot separate them: one object.
  std::vector<int> cls;
  EXPECT_EQ(count_objects(label_instances(foreground_of(target), g, 2, &cls)), 1);
}

// Three spheres of radius 7 mm in 1 x 1 x 2.5 mm voxels: A and B touch side by side in-plane, C
// sits on B along z. The reference cuts each contact halfway between the centres.
Tensor touching_spheres(const Geometry& g) {
  const double c[3][3] = {{12, 12, 20}, {25, 12, 20}, {25, 12, 33.5}};  // x, y, z in mm
  return label_map(g, [&](int64_t x, int64_t y, int64_t z) {
    const double p[3] = {x * g.spacing[0], y * g.spacing[1], z * g.spacing[2]};
    int best = 0;
    double best_d = 7.0;
    for (int k = 0; k < 3; ++k) {
      const double d = std::hypot(p[0] - c[k][0], p[1] - c[k][1], p[2] - c[k][2]);
      if (d <= best_d) best = k + 1, best_d = d;
    }
    return best;
  });
}

TEST(InstanceSplit, TouchingSpheresInAnAnisotropicVolume) {
  const Geometry g = grid(3, {38, 24, 22}, {1, 1, 2.5});
  const Tensor ref = touching_spheres(g);
  std::vector<int> cls;
  ASSERT_EQ(count_objects(label_instances(foreground_of(ref), g, 2, &cls)), 1)
      << "the spheres must touch, or the test proves nothing";
  // Width 2: 2 voxels in-plane, 1 slice in z.
  const Tensor target = instance_boundary_target(ref, g, 2);
  InstanceSettings s;
  s.min_size = 20;  // mm^3: 8 voxels; every sphere is far larger
  const Tensor split = split_instances(foreground_of(target), one_hot(target), g, s);
  EXPECT_EQ(count_objects(split), 3);
  const InstanceScores m = match(split, ref, 0.9);
  EXPECT_EQ(m.tp, 3) << "the in-plane and the through-plane contact are both split";
  EXPECT_GT(m.mean_matched_iou, 0.95);
}

TEST(InstanceSplit, SeedsMinSizeAndSeedlessParts) {
  // A 10 x 6 object whose interior came out as two pieces: a large one and a 2-pixel speck;
  // and a 2 x 2 object that the network saw only as boundary (no interior at all).
  const Geometry g = grid(2, {16, 8, 1}, {0.5, 0.5, 1});  // 0.25 mm^2 per pixel
  Tensor classes = label_map(g, [](int64_t, int64_t, int64_t) { return 0; });
  fill_box(classes, 0, 1, 0, 10, 6, 1, 2);
  fill_box(classes, 1, 2, 0, 5, 4, 1, 1);
  fill_box(classes, 7, 3, 0, 2, 1, 1, 1);
  fill_box(classes, 12, 2, 0, 2, 2, 1, 2);
  const Tensor p = one_hot(classes), f = foreground_of(classes);
  InstanceSettings s;
  EXPECT_EQ(count_objects(split_instances(f, p, g, s)), 3) << "the speck seeds an object";
  s.seed_min_size = 0.75;  // 3 pixels: the speck seeds nothing, its pixels join the large seed
  Tensor split = split_instances(f, p, g, s);
  EXPECT_EQ(count_objects(split), 2);
  EXPECT_FLOAT_EQ(split.at(0, 0, 0, 3, 7), 1.f);  // the speck, in the largest object
  EXPECT_FLOAT_EQ(split.at(0, 0, 0, 2, 12), 2.f);  // the seedless part is an object of its own
  s.min_size = 1.0;  // 4 pixels: the 2 x 2 object stays (a size equal to the limit is kept)
  EXPECT_EQ(count_objects(split_instances(f, p, g, s)), 2);
  s.min_size = 1.01;  // 5 pixels: it goes
  split = split_instances(f, p, g, s);
  EXPECT_EQ(count_objects(split), 1);
  EXPECT_FLOAT_EQ(split.at(0, 0, 0, 2, 12), 0.f);
}

TEST(InstanceSplit, FillHolesAndAThinGapKeepObjectsApart) {
  // A ring (boundary around interior, with a background hole at its centre) and, one background
  // column away, a second object: the watershed never floods across the background.
  const Geometry g = grid(2, {15, 9, 1}, {1, 1, 1});
  Tensor classes = label_map(g, [](int64_t, int64_t, int64_t) { return 0; });
  fill_box(classes, 0, 0, 0, 9, 9, 1, 2);
  fill_box(classes, 1, 1, 0, 7, 7, 1, 1);
  fill_box(classes, 4, 4, 0, 1, 1, 1, 0);  // the hole
  fill_box(classes, 10, 2, 0, 5, 5, 1, 2);
  fill_box(classes, 11, 3, 0, 3, 3, 1, 1);
  const Tensor p = one_hot(classes), f = foreground_of(classes);
  InstanceSettings s;
  Tensor split = split_instances(f, p, g, s);
  EXPECT_EQ(count_objects(split), 2);
  EXPECT_FLOAT_EQ(split.at(0, 0, 0, 4, 4), 1.f) << "the hole is filled by its object";
  for (int64_t y = 0; y < 9; ++y) EXPECT_FLOAT_EQ(split.at(0, 0, 0, y, 9), 0.f);
  EXPECT_FLOAT_EQ(split.at(0, 0, 0, 2, 10), 2.f);
  s.fill_holes = false;
  split = split_instances(f, p, g, s);
  EXPECT_FLOAT_EQ(split.at(0, 0, 0, 4, 4), 0.f);
}

// Two discs of radius 6 px, centres 10 px apart, whose interiors the network saw as one region
// (no boundary between them): only the shape can tell them apart. The distance inside the
// merged interior peaks at each centre (about 6 px) and dips to about 3.3 px at the neck.
TEST(InstanceSplit, SeedSplitSeparatesInteriorsJoinedByANeck) {
  const Geometry g = grid(2, {30, 17, 1}, {0.5, 0.5, 1});  // seed_split is in mm: 0.5 mm/px
  const Tensor ref = label_map(g, [](int64_t x, int64_t y, int64_t) {
    const double d1 = std::hypot(x - 9.0, y - 8.0), d2 = std::hypot(x - 19.0, y - 8.0);
    if (d1 > 6 && d2 > 6) return 0;
    return d1 <= d2 ? 1 : 2;
  });
  Tensor classes = foreground_of(ref);  // interior everywhere but a 1 px ring at the outside
  const Tensor outline = instance_boundary_target(foreground_of(ref), g, 1);
  for (int64_t i = 0; i < classes.numel(); ++i) classes.data()[i] = outline.data()[i];
  InstanceSettings s;
  const Tensor p = one_hot(classes), f = foreground_of(classes);
  EXPECT_EQ(count_objects(split_instances(f, p, g, s)), 1) << "without seed_split: one object";
  s.seed_split = 0.75;  // 1.5 px
  const Tensor split = split_instances(f, p, g, s);
  EXPECT_EQ(count_objects(split), 2);
  EXPECT_EQ(match(split, ref, 0.8).tp, 2);
  s.seed_split = 2.5;  // 5 px: deeper than the neck's dip, one object again
  EXPECT_EQ(count_objects(split_instances(f, p, g, s)), 1);
  // A thin seed (1 px wide: its distance maximum is below any h) keeps its seed.
  Tensor thin = label_map(g, [](int64_t, int64_t, int64_t) { return 0; });
  fill_box(thin, 2, 2, 0, 20, 3, 1, 2);
  fill_box(thin, 3, 3, 0, 18, 1, 1, 1);
  fill_box(thin, 2, 9, 0, 20, 5, 1, 2);
  fill_box(thin, 3, 10, 0, 18, 3, 1, 1);
  fill_box(thin, 2, 5, 0, 20, 4, 1, 2);  // one foreground part, two interiors
  s.seed_split = 2.5;
  EXPECT_EQ(count_objects(split_instances(foreground_of(thin), one_hot(thin), g, s)), 2);
}

// The same in an anisotropic volume: two spheres of radius 9 mm, centres 16 mm apart along z
// in 1 x 1 x 2 mm voxels, seen as one interior. The distances are in mm (the image spacing), so
// the split does not depend on the voxel shape.
TEST(InstanceSplit, SeedSplitInAnAnisotropicVolume) {
  const Geometry g = grid(3, {23, 23, 21}, {1, 1, 2});
  const Tensor ref = label_map(g, [&](int64_t x, int64_t y, int64_t z) {
    const double pz = z * 2.0, d1 = std::hypot(x - 11.0, y - 11.0, pz - 12.0),
                 d2 = std::hypot(x - 11.0, y - 11.0, pz - 28.0);
    if (d1 > 9 && d2 > 9) return 0;
    return d1 <= d2 ? 1 : 2;
  });
  Tensor classes = instance_boundary_target(foreground_of(ref), g, 1);
  InstanceSettings s;
  const Tensor p = one_hot(classes), f = foreground_of(classes);
  EXPECT_EQ(count_objects(split_instances(f, p, g, s)), 1);
  s.seed_split = 1.5;
  const Tensor split = split_instances(f, p, g, s);
  EXPECT_EQ(count_objects(split), 2);
  EXPECT_EQ(match(split, ref, 0.8).tp, 2);
}

TEST(InstanceSplit, NoObjectGrowsThroughTheBackground) {
  // Object A: interior up to x = 3 with no boundary on its right; one background column; then
  // object B: a 5 px band of boundary (x = 5..9) before its interior (x = 10..13). B's boundary
  // is B's even though A's seed is closer to it across the gap.
  const Geometry g = grid(2, {14, 3, 1}, {1, 1, 1});
  const Tensor classes = label_map(g, [](int64_t x, int64_t, int64_t) {
    return x <= 3 ? 1 : x == 4 ? 0 : x <= 9 ? 2 : 1;
  });
  const Tensor split = split_instances(foreground_of(classes), one_hot(classes), g, {});
  ASSERT_EQ(count_objects(split), 2);
  for (int64_t x = 5; x <= 9; ++x)
    EXPECT_EQ(split.at(0, 0, 0, 1, x), split.at(0, 0, 0, 1, 12)) << "x " << x;
  EXPECT_NE(split.at(0, 0, 0, 1, 0), split.at(0, 0, 0, 1, 12));
}

TEST(InstanceSplit, WatershedFollowsTheInteriorProbability) {
  // One foreground bar, two interior seeds at its ends; between them P(interior) dips at x = 9:
  // the objects meet there, not halfway between the seeds (x = 7 | 8).
  const Geometry g = grid(2, {16, 3, 1}, {1, 1, 1});
  Tensor p = Tensor::zeros(Shape::ncdhw(1, 3, 1, 3, 16));
  Tensor f = label_map(g, [](int64_t, int64_t, int64_t) { return 1; });
  for (int64_t y = 0; y < 3; ++y)
    for (int64_t x = 0; x < 16; ++x) {
      const bool seed = x < 2 || x > 13;
      const float interior = seed ? 0.9f : x == 9 ? 0.1f : 0.4f;
      p.at(0, 1, 0, y, x) = interior;
      p.at(0, 2, 0, y, x) = seed ? 0.05f : 1.f - interior - 0.05f;
      p.at(0, 0, 0, y, x) = 0.05f;
    }
  const Tensor split = split_instances(f, p, g, InstanceSettings{});
  ASSERT_EQ(count_objects(split), 2);
  const float left = split.at(0, 0, 0, 1, 0);
  EXPECT_EQ(split.at(0, 0, 0, 1, 8), left);
  EXPECT_NE(split.at(0, 0, 0, 1, 10), left);
}

}  // namespace
}  // namespace useg
