// Image I/O through ITK: geometry and voxel round trips for every supported format, pixel-type
// conversion, multi-component files, headers without voxels, and a real MRI (Colin27).
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "common/compare.h"
#include "common/image_fixtures.h"
#include "io/image_checks.h"
#include "useg/error.h"
#include "useg/image.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

using test::fresh_dir;

void expect_same_voxels(const Tensor& actual, const Tensor& expected) {
  ASSERT_EQ(actual.shape(), expected.shape());
  EXPECT_ALLCLOSE(actual, expected, (test::Tolerance{0.0, 0.0}));
}

// ---------------------------------------------------------------- 3D round trips
class RoundTrip3D : public ::testing::TestWithParam<std::string> {};

// NIfTI, NRRD and MetaImage hold the full geometry: size, spacing, origin and an oblique
// direction come back (NIfTI stores them as float32, hence the 1e-5 relative tolerance).
TEST_P(RoundTrip3D, KeepsGeometryAndIntegerVoxels) {
  fs::path d = fresh_dir("rt3d" + GetParam());
  std::string path = (d / ("case" + GetParam())).string();
  Geometry g = test::oblique_geometry_3d();
  Tensor v = test::integer_volume(g);
  write_image(path, v, g, "int16");
  Image back = read_image(path);
  EXPECT_EQ(back.geometry.dims, 3);
  EXPECT_TRUE(back.geometry.same_as(g)) << back.geometry.str() << "\nvs\n" << g.str();
  EXPECT_EQ(back.source, path);
  expect_same_voxels(back.voxels, v);
  ImageInfo info = read_image_info(path);
  EXPECT_EQ(info.component_type, "int16");
  EXPECT_TRUE(info.geometry.same_as(g));
}

INSTANTIATE_TEST_SUITE_P(Formats, RoundTrip3D,
                         ::testing::Values(".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd"),
                         [](const auto& info) { return info.param.substr(1) == "nii.gz"
                                                           ? std::string("nii_gz")
                                                           : info.param.substr(1); });

// What the raster formats keep (ITK 5.2's TIFF and PNG IO): the pixel grid and the in-plane
// spacing (TIFF resolution tags, PNG physical-scale chunk). They have no field for the origin or
// the direction, and a TIFF page stack has no slice spacing: those come back as 0, identity and
// 1 mm. Callers that need geometry must use NIfTI, NRRD, MetaImage or DICOM.
void expect_raster_geometry(const Geometry& back, const Geometry& written) {
  EXPECT_EQ(back.dims, written.dims);
  EXPECT_EQ(back.size, written.size);
  EXPECT_NEAR(back.spacing[0], written.spacing[0], 1e-5 * written.spacing[0]);
  EXPECT_NEAR(back.spacing[1], written.spacing[1], 1e-5 * written.spacing[1]);
  EXPECT_EQ(back.spacing[2], 1.0);
  EXPECT_EQ(back.origin, (std::array<double, 3>{0, 0, 0}));
  EXPECT_EQ(back.direction, Geometry{}.direction);
}

TEST(ImageIO, Tiff3DStackKeepsSizeInPlaneSpacingAndVoxelsOnly) {
  fs::path d = fresh_dir("tif3d");
  std::string path = (d / "stack.tif").string();
  Geometry g = test::oblique_geometry_3d();
  g.spacing = {0.37, 1.3, 2.5};
  Tensor v = test::integer_volume(g);
  write_image(path, v, g, "int16");
  Image back = read_image(path);
  expect_raster_geometry(back.geometry, g);
  expect_same_voxels(back.voxels, v);
}

// ---------------------------------------------------------------- 2D round trips
class RoundTrip2D : public ::testing::TestWithParam<std::string> {};

TEST_P(RoundTrip2D, KeepsGeometryAndIntegerPixels) {
  fs::path d = fresh_dir("rt2d" + GetParam());
  std::string path = (d / ("slice" + GetParam())).string();
  Geometry g = test::oblique_geometry_2d();
  Tensor v = test::integer_volume(g, 3.0f);  // 3..98: fits uint8 for PNG
  write_image(path, v, g, "uint8");
  Image back = read_image(path);
  EXPECT_EQ(back.geometry.dims, 2);
  EXPECT_TRUE(back.geometry.same_as(g)) << back.geometry.str() << "\nvs\n" << g.str();
  expect_same_voxels(back.voxels, v);
}

INSTANTIATE_TEST_SUITE_P(Formats, RoundTrip2D,
                         ::testing::Values(".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd"),
                         [](const auto& info) { return info.param.substr(1) == "nii.gz"
                                                           ? std::string("nii_gz")
                                                           : info.param.substr(1); });

TEST(ImageIO, Png2DKeepsSizeSpacingAndPixelsOnly) {
  fs::path d = fresh_dir("png2d");
  std::string path = (d / "slice.png").string();
  Geometry g = test::oblique_geometry_2d();
  g.spacing = {0.37, 0.9, 1};
  Tensor v = test::integer_volume(g, 3.0f);
  write_image(path, v, g, "uint8");
  Image back = read_image(path);
  expect_raster_geometry(back.geometry, g);
  expect_same_voxels(back.voxels, v);
  EXPECT_EQ(read_image_info(path).format, "PNG");
}

TEST(ImageIO, Tiff2DKeepsSizeSpacingAndPixelsOnly) {
  fs::path d = fresh_dir("tif2d");
  std::string path = (d / "slice.tif").string();
  Geometry g = test::oblique_geometry_2d();
  g.spacing = {0.37, 0.9, 1};
  Tensor v = test::integer_volume(g, 3.0f);
  write_image(path, v, g, "uint16");
  Image back = read_image(path);
  expect_raster_geometry(back.geometry, g);
  expect_same_voxels(back.voxels, v);
  ImageInfo info = read_image_info(path);
  EXPECT_EQ(info.format, "TIFF");
  EXPECT_EQ(info.component_type, "uint16");
}

// ---------------------------------------------------------------- pixel types and channels
TEST(ImageIO, IntegerPixelTypesRoundAndClamp) {
  fs::path d = fresh_dir("pixels");
  Geometry g;
  g.size = {6, 1, 1};
  Tensor v = Tensor::empty(Shape::ncdhw(1, 1, 1, 1, 6));
  const float in[6] = {-3.6f, -0.4f, 2.5f, 7.49f, 300.2f, 70000.0f};
  std::copy(in, in + 6, v.data());
  struct Case {
    const char* pixel;
    std::vector<float> expected;
  };
  const Case cases[] = {
      {"uint8", {0, 0, 3, 7, 255, 255}},
      {"uint16", {0, 0, 3, 7, 300, 65535}},
      {"uint32", {0, 0, 3, 7, 300, 70000}},
      {"int16", {-4, 0, 3, 7, 300, 32767}},
      {"float", {-3.6f, -0.4f, 2.5f, 7.49f, 300.2f, 70000.0f}},
  };
  for (const Case& c : cases) {
    std::string path = (d / (std::string(c.pixel) + ".nrrd")).string();
    write_image(path, v, g, c.pixel);
    EXPECT_EQ(read_image_info(path).component_type, c.pixel);
    EXPECT_ALLCLOSE(read_image(path).voxels.to_vector(), c.expected, (test::Tolerance{0, 0}))
        << c.pixel;
  }
}

TEST(ImageIO, RgbPngBecomesThreeChannels) {
  fs::path d = fresh_dir("rgb");
  std::string path = (d / "rgb.png").string();
  Geometry g = test::oblique_geometry_2d();
  Tensor v = Tensor::empty(Shape::ncdhw(1, 3, 1, g.size[1], g.size[0]));
  for (int c = 0; c < 3; ++c)
    for (int64_t y = 0; y < g.size[1]; ++y)
      for (int64_t x = 0; x < g.size[0]; ++x) v.at(0, c, 0, y, x) = float(80 * c + 9 * y + x);
  write_image(path, v, g, "uint8");
  ImageInfo info = read_image_info(path);
  EXPECT_EQ(info.components, 3);
  EXPECT_EQ(info.bytes_declared, g.voxels() * 3);
  Image back = read_image(path);
  EXPECT_EQ(back.channels(), 3);
  expect_same_voxels(back.voxels, v);
}

TEST(ImageIO, MultiChannelNrrdKeepsChannelOrder) {
  fs::path d = fresh_dir("vector");
  std::string path = (d / "probs.nrrd").string();
  Geometry g = test::oblique_geometry_3d();
  Tensor v = Tensor::empty(Shape::ncdhw(1, 2, g.size[2], g.size[1], g.size[0]));
  for (int64_t i = 0; i < v.numel(); ++i) v.data()[i] = 0.25f * float(i % 97) - 3.0f;
  write_image(path, v, g, "float");
  Image back = read_image(path);
  EXPECT_TRUE(back.geometry.same_as(g));
  expect_same_voxels(back.voxels, v);
}

TEST(ImageIO, InfoReadsTheHeaderOnly) {
  fs::path d = fresh_dir("info");
  std::string path = (d / "ct.nii.gz").string();
  Geometry g = test::oblique_geometry_3d();
  write_image(path, test::integer_volume(g), g, "int16");
  ImageInfo info = read_image_info(path);
  EXPECT_EQ(info.format, "NIfTI");
  EXPECT_EQ(info.component_type, "int16");
  EXPECT_EQ(info.components, 1);
  EXPECT_EQ(info.bytes_declared, g.voxels() * 2);
  EXPECT_TRUE(info.geometry.same_as(g)) << info.geometry.str();
}

TEST(ImageIO, ChannelFilesAreStackedInOrder) {
  fs::path d = fresh_dir("channels");
  Geometry g = test::oblique_geometry_3d();
  Tensor a = test::integer_volume(g, 0.0f), b = test::integer_volume(g, 1000.0f);
  std::string pa = (d / "case_0000.nii.gz").string(), pb = (d / "case_0001.nrrd").string();
  write_image(pa, a, g, "int16");
  write_image(pb, b, g, "float");
  Image img = read_image_channels({pa, pb});
  ASSERT_EQ(img.channels(), 2);
  EXPECT_TRUE(img.geometry.same_as(g));
  std::vector<float> all = img.voxels.to_vector(), va = a.to_vector(), vb = b.to_vector();
  va.insert(va.end(), vb.begin(), vb.end());
  EXPECT_EQ(all, va);
}

// NaN/Inf voxels are read as they are (the caller decides what to do), NIfTI included: ITK's
// bundled niftilib (nifti_read_buffer) silently replaces non-finite floats by 0 while loading,
// and the reader puts them back from the raw data (io/nifti_nonfinite.cpp). A real 0 stays 0.
TEST(ImageIO, NonFiniteVoxelsAreReadAndReported) {
  fs::path d = fresh_dir("nan");
  Geometry g = test::oblique_geometry_3d();
  Tensor v = test::integer_volume(g);
  std::string clean_path = (d / "clean.nrrd").string();
  write_image(clean_path, v, g, "float");
  EXPECT_FALSE(has_non_finite(read_image(clean_path)));
  v.at(0, 0, 1, 2, 3) = std::nanf("");
  v.at(0, 0, 3, 4, 6) = -INFINITY;
  v.at(0, 0, 2, 2, 2) = 0.f;
  for (const char* ext : {".nrrd", ".mha", ".nii", ".nii.gz"}) {
    for (const char* type : {"float"}) {
      std::string path = (d / (std::string("dirty_") + type + ext)).string();
      write_image(path, v, g, type);
      Image dirty = read_image(path);
      EXPECT_TRUE(std::isnan(dirty.voxels.at(0, 0, 1, 2, 3))) << ext << " " << type;
      EXPECT_EQ(dirty.voxels.at(0, 0, 3, 4, 6), -INFINITY) << ext << " " << type;
      EXPECT_EQ(dirty.voxels.at(0, 0, 2, 2, 2), 0.f) << ext << " " << type;
      EXPECT_TRUE(has_non_finite(dirty)) << ext;
      EXPECT_EQ(count_non_finite(dirty), std::vector<int64_t>{2}) << ext << " " << type;
      // Every other voxel as written.
      Tensor expect = v.clone();
      expect.at(0, 0, 1, 2, 3) = 0.f;
      expect.at(0, 0, 3, 4, 6) = 0.f;
      dirty.voxels.at(0, 0, 1, 2, 3) = 0.f;
      dirty.voxels.at(0, 0, 3, 4, 6) = 0.f;
      EXPECT_EQ(dirty.voxels.to_vector(), expect.to_vector()) << ext << " " << type;
    }
  }
}

// segment's rule: each channel's non-finite voxels become that channel's minimum finite value
// (0 for a channel without any).
TEST(ImageIO, ReplaceNonFiniteUsesTheChannelMinimum) {
  Image img;
  img.voxels = Tensor::zeros(Shape{1, 3, 1, 2, 2});
  float* p = img.voxels.data();
  const float vals[12] = {5, NAN, 7, -2,                       // channel 0: min -2
                          INFINITY, 3, 4, 9,                   // channel 1: min 3
                          NAN, -INFINITY, NAN, INFINITY};      // channel 2: none finite
  std::copy(vals, vals + 12, p);
  EXPECT_EQ(count_non_finite(img), (std::vector<int64_t>{1, 1, 4}));
  EXPECT_EQ(replace_non_finite(img), 6);
  EXPECT_EQ(img.voxels.to_vector(),
            (std::vector<float>{5, -2, 7, -2, 3, 3, 4, 9, 0, 0, 0, 0}));
  EXPECT_EQ(replace_non_finite(img), 0);
}

// ---------------------------------------------------------------- a real MRI: Colin27
// Header values checked independently (the NIfTI sform: 181x217x181 uint8, 1 mm, RAS origin
// (-90, -125, -71) -> ITK's LPS origin (90, 125, -71), direction diag(-1, -1, 1)); voxel values
// and the sum computed from the raw file with Python's gzip + struct.
const char* const kColin = "/usr/share/mricron/templates/ch2.nii.gz";

TEST(ImageIO, ReadsColin27AndRoundTripsToNrrd) {
  if (!fs::exists(kColin)) GTEST_SKIP() << kColin << " not installed (Debian: mricron-data)";
  auto t0 = std::chrono::steady_clock::now();
  Image img = read_image(kColin);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                  .count();
  std::cout << "read " << kColin << " in " << ms << " ms: " << img.geometry.str() << "\n";
  Geometry expected;
  expected.size = {181, 217, 181};
  expected.spacing = {1, 1, 1};
  expected.origin = {90, 125, -71};
  expected.direction = {-1, 0, 0, 0, -1, 0, 0, 0, 1};
  EXPECT_TRUE(img.geometry.same_as(expected)) << img.geometry.str();
  EXPECT_EQ(img.voxels.shape(), Shape::ncdhw(1, 1, 181, 217, 181));
  EXPECT_EQ(img.voxels.at(0, 0, 90, 108, 90), 33.0f);
  EXPECT_EQ(img.voxels.at(0, 0, 120, 50, 100), 91.0f);
  double sum = 0;
  for (float x : img.voxels.to_vector()) sum += x;
  EXPECT_EQ(sum, 317151210.0);
  ImageInfo info = read_image_info(kColin);
  EXPECT_EQ(info.component_type, "uint8");
  EXPECT_EQ(info.bytes_declared, 181 * 217 * 181);

  fs::path d = fresh_dir("colin");
  std::string out = (d / "ch2.nrrd").string();
  write_image(out, img.voxels, img.geometry, "uint8");
  Image back = read_image(out);
  EXPECT_TRUE(back.geometry.same_as(img.geometry, 1e-12)) << back.geometry.str();
  EXPECT_EQ(back.voxels.to_vector(), img.voxels.to_vector());
}

// ---------------------------------------------------------------- paths and geometry helpers
TEST(ImageIO, IsImagePathByExtensionCaseInsensitive) {
  for (const char* p : {"a.nii", "A.NII.GZ", "b.nrrd", "c.nhdr", "d.mha", "e.MHD", "f.tif",
                        "g.TIFF", "h.png", "dir/x.nii.gz"})
    EXPECT_TRUE(is_image_path(p)) << p;
  for (const char* p : {"a.txt", "b.gz", "c.jpg", "model.json", "nii", "weights.safetensors"})
    EXPECT_FALSE(is_image_path(p)) << p;
  fs::path d = fresh_dir("notdicom");
  EXPECT_FALSE(is_image_path(d.string()));
}

TEST(Geometry, SameAsUsesRelativeToleranceAndStrIsReadable) {
  Geometry a = test::oblique_geometry_3d(), b = a;
  b.origin[0] += 1e-7;
  b.spacing[2] *= 1 + 1e-7;
  EXPECT_TRUE(a.same_as(b));
  b.origin[1] += 0.01;
  EXPECT_FALSE(a.same_as(b));
  EXPECT_NE(geometry_difference(a, b).find("origin"), std::string::npos);
  EXPECT_EQ(geometry_difference(a, b).find("spacing"), std::string::npos);
  b = a;
  b.size[2] = 5;
  EXPECT_NE(geometry_difference(a, b).find("size 7x5x4 vs 7x5x5"), std::string::npos)
      << geometry_difference(a, b);
  Geometry id;
  id.size = {256, 256, 1};
  id.spacing = {0.5, 0.5, 1};
  EXPECT_EQ(id.str(),
            "size 256x256x1, spacing 0.5x0.5x1 mm, origin (0, 0, 0), direction (1 0 0; 0 1 0; 0 "
            "0 1)");
}

}  // namespace
}  // namespace useg
