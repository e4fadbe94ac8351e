// Resampling (src/imaging): output geometry as documented, linear interpolation exact on a
// linear ramp (in physical coordinates, through an oblique direction), nearest neighbour keeping
// label values, and the way back onto the original grid.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "common/compare.h"
#include "common/image_fixtures.h"
#include "useg/error.h"
#include "imaging/imaging.h"

namespace useg {
namespace {

// Physical point of voxel (x, y, z): origin + direction * (index * spacing).
std::array<double, 3> physical(const Geometry& g, int64_t x, int64_t y, int64_t z) {
  const double idx[3] = {x * g.spacing[0], y * g.spacing[1], z * g.spacing[2]};
  std::array<double, 3> p{};
  for (int r = 0; r < 3; ++r)
    p[r] = g.origin[r] + g.direction[3 * r] * idx[0] + g.direction[3 * r + 1] * idx[1] +
           g.direction[3 * r + 2] * idx[2];
  return p;
}

// f(p) = 0.5 px - 0.25 py + 0.125 pz + 3: linear in physical space, hence in index space.
float ramp(const std::array<double, 3>& p) {
  return static_cast<float>(0.5 * p[0] - 0.25 * p[1] + 0.125 * p[2] + 3.0);
}

Tensor ramp_volume(const Geometry& g, int channels = 1) {
  Tensor t = Tensor::empty(Shape::ncdhw(1, channels, g.size[2], g.size[1], g.size[0]));
  for (int c = 0; c < channels; ++c)
    for (int64_t z = 0; z < g.size[2]; ++z)
      for (int64_t y = 0; y < g.size[1]; ++y)
        for (int64_t x = 0; x < g.size[0]; ++x)
          t.at(0, c, z, y, x) = ramp(physical(g, x, y, z)) * float(c + 1);
  return t;
}

Image ramp_image() {
  Image img;
  img.geometry = test::oblique_geometry_3d();
  img.geometry.size = {9, 7, 5};
  img.voxels = ramp_volume(img.geometry);
  img.source = "ramp";
  return img;
}

TEST(Resample, HalfSpacingGeometryAsDocumented) {
  Image img = ramp_image();
  const Geometry& g = img.geometry;
  Image fine = resample_to_spacing(img, {g.spacing[0] / 2, g.spacing[1] / 2, g.spacing[2] / 2},
                                   Interp::Linear);
  EXPECT_EQ(fine.geometry.size, (std::array<int64_t, 3>{18, 14, 10}));
  EXPECT_EQ(fine.geometry.origin, g.origin);
  EXPECT_EQ(fine.geometry.direction, g.direction);
  EXPECT_EQ(fine.geometry.spacing[2], g.spacing[2] / 2);
  EXPECT_EQ(fine.source, "ramp");
  EXPECT_EQ(fine.voxels.shape(), Shape::ncdhw(1, 1, 10, 14, 18));
  // Anisotropic target: size = max(1, round(old_size * old_spacing / new_spacing)).
  Image odd = resample_to_spacing(img, {1.0, 0.5, 20.0}, Interp::Linear);
  EXPECT_EQ(odd.geometry.size, (std::array<int64_t, 3>{6, 18, 1}));  // 6.3, 18.2, 0.625
}

// Linear interpolation reproduces a linear function exactly inside the input grid; past the last
// input voxel centre (the last half voxel of the finer grid) the edge value is repeated.
TEST(Resample, LinearRampToHalfSpacingAndBack) {
  Image img = ramp_image();
  const Geometry& g = img.geometry;
  Image fine = resample_to_spacing(img, {g.spacing[0] / 2, g.spacing[1] / 2, g.spacing[2] / 2},
                                   Interp::Linear);
  const Geometry& f = fine.geometry;
  double max_err = 0;
  for (int64_t z = 0; z + 1 < f.size[2]; ++z)
    for (int64_t y = 0; y + 1 < f.size[1]; ++y)
      for (int64_t x = 0; x + 1 < f.size[0]; ++x)
        max_err = std::max(max_err, double(std::fabs(fine.voxels.at(0, 0, z, y, x) -
                                                     ramp(physical(f, x, y, z)))));
  EXPECT_LT(max_err, 1e-4);
  EXPECT_EQ(fine.voxels.at(0, 0, 9, 13, 17), img.voxels.at(0, 0, 4, 6, 8));  // edge repeated
  Tensor back = resample_to_geometry(fine.voxels, f, g, Interp::Linear);
  EXPECT_ALLCLOSE(back, img.voxels, (test::Tolerance{1e-4, 1e-5}));
}

// Between two different oblique grids over the same region, the ramp is still exact.
TEST(Resample, ToAnotherObliqueGeometry) {
  Image img = ramp_image();
  Geometry b = img.geometry;
  b.size = {5, 5, 3};  // chosen to lie inside the input grid
  b.spacing = {0.9, 1.1, 2.0};
  b.origin = physical(img.geometry, 2, 1, 1);
  const double c = std::cos(0.2), s = std::sin(0.2);
  std::array<double, 9> rz = {c, -s, 0, s, c, 0, 0, 0, 1};  // b = a's direction * Rz(0.2 rad)
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      b.direction[3 * i + j] = 0;
      for (int k = 0; k < 3; ++k)
        b.direction[3 * i + j] += img.geometry.direction[3 * i + k] * rz[3 * k + j];
    }
  Tensor out = resample_to_geometry(img.voxels, img.geometry, b, Interp::Linear);
  EXPECT_ALLCLOSE(out, ramp_volume(b), (test::Tolerance{1e-4, 1e-5}));
}

TEST(Resample, NearestKeepsLabelsAndRoundTrips) {
  Image labels;
  labels.geometry = test::oblique_geometry_3d();
  const Geometry& g = labels.geometry;
  labels.voxels = Tensor::empty(Shape::ncdhw(1, 1, g.size[2], g.size[1], g.size[0]));
  for (int64_t z = 0; z < g.size[2]; ++z)
    for (int64_t y = 0; y < g.size[1]; ++y)
      for (int64_t x = 0; x < g.size[0]; ++x)
        labels.voxels.at(0, 0, z, y, x) = float((x / 2 + 3 * y + 7 * z) % 5);
  std::set<float> allowed = {0, 1, 2, 3, 4};

  Image odd = resample_to_spacing(labels, {0.45, 1.7, 1.1}, Interp::Nearest);
  for (float v : odd.voxels.to_vector()) EXPECT_TRUE(allowed.count(v)) << v;

  Image fine = resample_to_spacing(labels, {g.spacing[0] / 2, g.spacing[1] / 2, g.spacing[2] / 2},
                                   Interp::Nearest);
  Tensor back = resample_to_geometry(fine.voxels, fine.geometry, g, Interp::Nearest);
  EXPECT_EQ(back.to_vector(), labels.voxels.to_vector());
}

TEST(Resample, ChannelsAndTwoDimensionalImages) {
  Image img;
  img.geometry = test::oblique_geometry_2d();
  img.voxels = ramp_volume(img.geometry, 2);
  Image fine = resample_to_spacing(img, {0.2, 0.3, 5.0}, Interp::Linear);  // z ignored in 2D
  EXPECT_EQ(fine.geometry.dims, 2);
  EXPECT_EQ(fine.geometry.size, (std::array<int64_t, 3>{18, 18, 1}));
  EXPECT_EQ(fine.geometry.spacing[2], 1.0);
  ASSERT_EQ(fine.channels(), 2);
  for (int64_t y = 0; y + 3 < 18; ++y)
    for (int64_t x = 0; x + 2 < 18; ++x) {
      float expected = ramp(physical(fine.geometry, x, y, 0));
      EXPECT_NEAR(fine.voxels.at(0, 0, 0, y, x), expected, 1e-4);
      EXPECT_NEAR(fine.voxels.at(0, 1, 0, y, x), 2 * expected, 2e-4);
    }
}

TEST(Resample, OutsidePointsTakeTheNearestEdgeValue) {
  Image img = ramp_image();
  const Geometry& a = img.geometry;
  Geometry b = a;  // the same grid moved 3 voxels along -x: its first 3 columns lie outside a
  for (int r = 0; r < 3; ++r) b.origin[r] -= 3 * a.spacing[0] * a.direction[3 * r];
  for (Interp interp : {Interp::Linear, Interp::Nearest}) {
    Tensor out = resample_to_geometry(img.voxels, a, b, interp);
    for (int64_t z = 0; z < a.size[2]; ++z)
      for (int64_t y = 0; y < a.size[1]; ++y) {
        for (int64_t x = 0; x < 3; ++x)
          EXPECT_NEAR(out.at(0, 0, z, y, x), img.voxels.at(0, 0, z, y, 0), 1e-4);
        EXPECT_NEAR(out.at(0, 0, z, y, 5), img.voxels.at(0, 0, z, y, 2), 1e-4);
      }
  }
}

TEST(Resample, BadArgumentsAreErrors) {
  Image img = ramp_image();
  EXPECT_THROW(resample_to_spacing(img, {0.0, 1.0, 1.0}, Interp::Linear), Error);
  Geometry two_d = test::oblique_geometry_2d();
  EXPECT_THROW(resample_to_geometry(img.voxels, img.geometry, two_d, Interp::Linear), Error);
  Geometry wrong = img.geometry;
  wrong.size[0] += 1;
  EXPECT_THROW(resample_to_geometry(img.voxels, wrong, img.geometry, Interp::Nearest), Error);
  EXPECT_STREQ(interp_name(Interp::Nearest), "nearest");
}

}  // namespace
}  // namespace useg
