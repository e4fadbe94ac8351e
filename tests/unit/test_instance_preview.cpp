// The preview of an instance model: every object its own colour, so two touching objects of the
// same class look different (the class preview paints them alike).
#include <gtest/gtest.h>

#include <array>
#include <cmath>

#include "common/image_fixtures.h"
#include "eval_test_util.h"
#include "useg/image.h"
#include "plot/preview.h"

namespace useg {
namespace {

// RGB of the preview pixel over voxel (x, y) of a 64 x 64 image (panels are 256 px high: 4 px
// per voxel).
std::array<float, 3> rgb_at(const Image& png, int64_t x, int64_t y) {
  std::array<float, 3> c{};
  for (int k = 0; k < 3; ++k) c[k] = png.voxels.at(0, k, 0, 4 * y + 2, 4 * x + 2);
  return c;
}

TEST(InstancePreview, TouchingObjectsGetTheirOwnColours) {
  const auto dir = test::fresh_dir("instance_preview");
  const Geometry g = test::grid(2, {64, 64, 1}, {1, 1, 1});
  Image image;
  image.geometry = g;
  // Bright left of x = 4, dark elsewhere: every object pixel lies on the same grey.
  image.voxels = test::label_map(g, [](int64_t x, int64_t, int64_t) { return x < 4 ? 200 : 10; });
  // Objects 1 and 2 touch along x = 31 | 32.
  const Tensor ids = test::label_map(g, [](int64_t x, int64_t y, int64_t) {
    return y < 16 || y >= 48 || x < 8 || x >= 56 ? 0 : x < 32 ? 1 : 2;
  });
  Tensor classes = ids.clone();
  for (int64_t i = 0; i < classes.numel(); ++i) classes.data()[i] = ids.data()[i] > 0 ? 1.f : 0.f;
  const std::string inst = (dir / "inst.png").string(), cls = (dir / "cls.png").string();
  write_instance_preview_png(inst, image, ids, "cell", "case");
  write_preview_png(cls, image, classes, {"background", "cell"}, "case");
  const Image a = read_image(inst), b = read_image(cls);
  ASSERT_EQ(a.voxels.shape().c(), 3);
  auto differ = [](const std::array<float, 3>& p, const std::array<float, 3>& q) {
    return std::abs(p[0] - q[0]) + std::abs(p[1] - q[1]) + std::abs(p[2] - q[2]) > 60;
  };
  EXPECT_TRUE(differ(rgb_at(a, 20, 30), rgb_at(a, 44, 30))) << "the two objects have their own colours";
  EXPECT_FALSE(differ(rgb_at(b, 20, 30), rgb_at(b, 44, 30))) << "the class preview paints them alike";
  // The outline is opaque: at the contact (x = 31 | 32) each side shows its object's full colour,
  // stronger than the semi-transparent inside of the same object.
  EXPECT_TRUE(differ(rgb_at(a, 31, 30), rgb_at(a, 32, 30)));
  EXPECT_TRUE(differ(rgb_at(a, 31, 30), rgb_at(a, 20, 30)));
}

}  // namespace
}  // namespace useg
