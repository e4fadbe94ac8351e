// DICOM series: a volume written with write_dicom_series (one file per slice, oblique geometry)
// reads back as one case with its geometry and values, whatever the order of the file names;
// folders with no series or several series are refused with a message that says so.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "common/image_fixtures.h"
#include "useg/error.h"
#include "useg/image.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

using test::fresh_dir;

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  for (auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

void expect_geometry_near(const Geometry& a, const Geometry& b, double tol) {
  EXPECT_EQ(a.size, b.size);
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(a.spacing[i], b.spacing[i], tol) << "spacing " << i;
    EXPECT_NEAR(a.origin[i], b.origin[i], tol) << "origin " << i;
  }
  for (int i = 0; i < 9; ++i) EXPECT_NEAR(a.direction[i], b.direction[i], tol) << "direction " << i;
}

// A CT-like volume: 9 slices of 12x10, anisotropic spacing, oblique orientation, values in HU.
Geometry ct_geometry() {
  Geometry g = test::oblique_geometry_3d();
  g.size = {12, 10, 9};
  g.spacing = {0.75, 0.6, 2.5};
  g.origin = {-120.25, 87.5, -310.125};
  return g;
}

Tensor ct_values(const Geometry& g) {
  Tensor t = test::integer_volume(g, -1024.0f);
  t.at(0, 0, 4, 5, 6) = 3071.0f;  // a bright voxel
  return t;
}

TEST(Dicom, SeriesRoundTripWithShuffledFileNames) {
  fs::path d = fresh_dir("dicom_rt");
  Geometry g = ct_geometry();
  Tensor v = ct_values(g);
  write_dicom_series(d.string(), v, g);
  std::vector<fs::path> files = files_in(d);
  ASSERT_EQ(files.size(), 9u);
  // Rename the slices so that neither the name order nor the file order is the slice order, and
  // drop the .dcm extension (as scanner exports do): sorting must come from the positions.
  std::vector<int> perm(files.size());
  for (size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<int>(i);
  std::shuffle(perm.begin(), perm.end(), std::mt19937(7));
  for (size_t i = 0; i < files.size(); ++i)
    fs::rename(files[i], d / ("IM" + std::to_string(perm[i] * 37 % 101)));
  ASSERT_TRUE(is_image_path(d.string()));

  ImageInfo info = read_image_info(d.string());
  EXPECT_EQ(info.format, "DICOM");
  EXPECT_EQ(info.component_type, "int16");
  expect_geometry_near(info.geometry, g, 1e-4);

  Image back = read_image(d.string());
  EXPECT_EQ(back.source, d.string());
  EXPECT_EQ(back.geometry.dims, 3);
  expect_geometry_near(back.geometry, g, 1e-4);
  ASSERT_EQ(back.voxels.shape(), v.shape());
  EXPECT_EQ(back.voxels.to_vector(), v.to_vector());
}

// Non-integer values are stored as int16 with a rescale slope and intercept.
TEST(Dicom, RealValuesUseRescaleSlope) {
  fs::path d = fresh_dir("dicom_real");
  Geometry g = ct_geometry();
  Tensor v = ct_values(g);
  for (int64_t i = 0; i < v.numel(); ++i) v.data()[i] = 0.01f * v.data()[i] + 0.003f;
  write_dicom_series(d.string(), v, g);
  Image back = read_image(d.string());
  float max_err = 0, range = 0;
  for (int64_t i = 0; i < v.numel(); ++i) {
    max_err = std::max(max_err, std::fabs(back.voxels.data()[i] - v.data()[i]));
    range = std::max(range, std::fabs(v.data()[i]));
  }
  EXPECT_LT(max_err, 2 * range / 65534.0f + 1e-5f);
}

TEST(Dicom, SingleSliceSeries) {
  fs::path d = fresh_dir("dicom_one");
  Geometry g = ct_geometry();
  g.size[2] = 1;
  Tensor v = test::integer_volume(g);
  write_dicom_series(d.string(), v, g);
  Image back = read_image(d.string());
  EXPECT_EQ(back.geometry.size, g.size);
  EXPECT_NEAR(back.geometry.spacing[2], g.spacing[2], 1e-4);  // from the slice thickness
  EXPECT_EQ(back.voxels.to_vector(), v.to_vector());
}

TEST(Dicom, SeveralSeriesInOneFolderAreListed) {
  fs::path a = fresh_dir("dicom_a"), b = fresh_dir("dicom_b"), both = fresh_dir("dicom_both");
  Geometry g = ct_geometry();
  write_dicom_series(a.string(), ct_values(g), g);
  Geometry h = g;
  h.size[2] = 3;
  write_dicom_series(b.string(), test::integer_volume(h), h);
  for (auto& f : files_in(a)) fs::copy_file(f, both / ("a_" + f.filename().string()));
  for (auto& f : files_in(b)) fs::copy_file(f, both / ("b_" + f.filename().string()));
  try {
    read_image(both.string());
    FAIL() << "two series were read as one";
  } catch (const Error& e) {
    std::string m = e.what();
    std::cout << "    message: " << m << "\n";
    EXPECT_NE(m.find("cannot read " + both.string() + ": the folder holds 2 DICOM series"),
              std::string::npos) << m;
    EXPECT_NE(m.find("(9 files)"), std::string::npos) << m;
    EXPECT_NE(m.find("(3 files)"), std::string::npos) << m;
  }
}

TEST(Dicom, FolderWithoutSeries) {
  fs::path d = fresh_dir("dicom_none");
  std::ofstream(d / "notes.txt") << "no images here";
  EXPECT_FALSE(is_image_path(d.string()));
  try {
    read_image(d.string());
    FAIL();
  } catch (const Error& e) {
    std::cout << "    message: " << e.what() << "\n";
    EXPECT_NE(std::string(e.what()).find("the folder holds no DICOM series"), std::string::npos)
        << e.what();
  }
}

TEST(Dicom, WriterRefusesNonFiniteVoxels) {
  fs::path d = fresh_dir("dicom_nan");
  Geometry g = ct_geometry();
  Tensor v = ct_values(g);
  v.data()[5] = INFINITY;
  EXPECT_THROW(write_dicom_series(d.string(), v, g), Error);
  EXPECT_TRUE(fs::is_empty(d));
}

TEST(Dicom, TruncatedSliceAndLimitsAreErrors) {
  fs::path d = fresh_dir("dicom_cut");
  Geometry g = ct_geometry();
  write_dicom_series(d.string(), ct_values(g), g);
  ReadLimits tiny;
  tiny.max_voxels = 1000;
  try {
    read_image(d.string(), tiny);
    FAIL();
  } catch (const Error& e) {
    std::cout << "    message: " << e.what() << "\n";
    EXPECT_NE(std::string(e.what()).find("12x10x9 = 1080 voxels, more than the limit of 1000"),
              std::string::npos) << e.what();
  }
  fs::path slice = files_in(d)[4];
  std::string bytes;
  {
    std::ifstream in(slice, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::ofstream(slice, std::ios::binary) << bytes.substr(0, bytes.size() - 100);
  try {
    read_image(d.string());
    Image im = read_image(d.string());
    FAIL() << "a cut slice was read: " << im.geometry.str() << " at 4,5,6: " << im.voxels.at(0, 0, 4, 5, 6) << " last " << im.voxels.at(0, 0, 8, 9, 11);
  } catch (const Error& e) {
    std::cout << "    message: " << e.what() << "\n";
    EXPECT_NE(std::string(e.what()).find("cannot read " + d.string()), std::string::npos);
  }
}

TEST(Dicom, MissingSliceIsAnError) {
  fs::path d = fresh_dir("dicom_gap");
  Geometry g = ct_geometry();
  write_dicom_series(d.string(), ct_values(g), g);
  fs::remove(files_in(d)[3]);
  try {
    read_image(d.string());
    FAIL() << "a series with a gap was read";
  } catch (const Error& e) {
    std::cout << "    message: " << e.what() << "\n";
    EXPECT_NE(std::string(e.what()).find("slices are not evenly spaced"), std::string::npos);
  }
}

// A DICOM file made elsewhere (GDCM's example data, Debian libgdcm-dev docs) passes the
// truncation walker and reads as a one-slice series.
TEST(Dicom, ReadsAForeignFile) {
  const fs::path example = "/usr/share/doc/libgdcm3.0/examples/00191113.dcm";
  if (!fs::exists(example)) GTEST_SKIP() << example << " not installed";
  fs::path d = fresh_dir("dicom_foreign");
  fs::copy_file(example, d / example.filename());
  Image img = read_image(d.string());
  std::cout << "    " << example << ": " << img.geometry.str() << "\n";
  EXPECT_GE(img.geometry.size[0], 1);
}

}  // namespace
}  // namespace useg
