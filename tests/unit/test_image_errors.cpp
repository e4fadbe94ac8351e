// Image I/O failures: every bad input is refused with a message naming the file and the cause,
// oversized headers are refused before any voxel is allocated, and writes are atomic (no temp
// files left behind, a failed write keeps the previous file).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "common/expect_error.h"
#include "common/file_bytes.h"
#include "common/image_fixtures.h"
#include "io/io_common.h"
#include "useg/error.h"
#include "core/files.h"
#include "useg/image.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

using test::error_of;
using test::fresh_dir;
using test::slurp;
using test::write_bytes;

int count_temp_files(const fs::path& dir) {
  int n = 0;
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().filename().string().find(".tmp-") != std::string::npos) ++n;
  return n;
}

// ---------------------------------------------------------------- reading
TEST(ImageErrors, MissingFile) {
  std::string m = error_of([] { read_image("/nonexistent_useg/case.nii.gz"); });
  EXPECT_HAS(m, "cannot read /nonexistent_useg/case.nii.gz: no such file or directory");
}

TEST(ImageErrors, EmptyFile) {
  fs::path p = fresh_dir("empty") / "empty.nii.gz";
  write_bytes(p, "");
  std::string m = error_of([&] { read_image(p.string()); });
  EXPECT_HAS(m, p.string() + ": the file is empty (0 bytes)");
}

TEST(ImageErrors, TruncatedGzipNifti) {
  fs::path d = fresh_dir("truncated");
  fs::path p = d / "cut.nii.gz";
  Geometry g;
  g.size = {48, 40, 32};
  Tensor v = Tensor::empty(Shape::ncdhw(1, 1, 32, 40, 48));
  for (int64_t i = 0; i < v.numel(); ++i) v.data()[i] = float((i * 2654435761u) % 1000);
  write_image(p.string(), v, g, "float");
  std::string bytes = slurp(p);
  write_bytes(p, bytes.substr(0, bytes.size() / 2));
  std::string m = error_of([&] { read_image(p.string()); });
  EXPECT_HAS(m, "cannot read " + p.string() + ": ");
  EXPECT_EQ(m.find("itk::ERROR"), std::string::npos);
  EXPECT_LT(m.size(), 500u);
}

TEST(ImageErrors, CorruptHeader) {
  fs::path p = fresh_dir("corrupt") / "noise.nrrd";
  write_bytes(p, std::string("this is not a NRRD header\n") + std::string(200, '\x7f'));
  std::string m = error_of([&] { read_image(p.string()); });
  EXPECT_HAS(m, "cannot read " + p.string() + ": not a valid NRRD file");
}

TEST(ImageErrors, UnknownExtensionListsTheSupportedOnes) {
  fs::path p = fresh_dir("ext") / "photo.jpg";
  write_bytes(p, "\xff\xd8\xff\xe0 not really a jpeg");
  std::string m = error_of([&] { read_image(p.string()); });
  EXPECT_HAS(m, "cannot read " + p.string() + ": unknown image extension '.jpg'");
  EXPECT_HAS(m, ".nii .nii.gz .nrrd .nhdr .mha .mhd .tif .tiff .png");
}

// Headers declaring absurd sizes; each file is only its header. The guard must refuse from the
// header alone: a message about the size (not about missing data) shows nothing was read or
// allocated. NIfTI-1 stores dims as int16 (at most 32767), so 60000^3 cannot be written in a
// NIfTI-1 header: the hand-made 348-byte NIfTI-1 header declares 30000^3, and a 60000^3
// declaration is made in a MetaImage header.
TEST(ImageErrors, HugeHeaderIsRefusedBeforeAllocating) {
  fs::path d = fresh_dir("huge");
  fs::path nii = d / "huge.nii";
  write_bytes(nii, test::nifti1_header({3, 30000, 30000, 30000}));
  ASSERT_EQ(fs::file_size(nii), 348u);
  ImageInfo info = read_image_info(nii.string());  // header only: fine
  EXPECT_EQ(info.geometry.voxels(), int64_t(30000) * 30000 * 30000);
  EXPECT_EQ(info.bytes_declared, int64_t(30000) * 30000 * 30000 * 4);
  std::string m1 = error_of([&] { read_image(nii.string()); });
  EXPECT_HAS(m1, "cannot read " + nii.string() + ": its header declares 30000x30000x30000 = "
                 "27000000000000 voxels, more than the limit of 2147483648 voxels");
  EXPECT_HAS(m1, "--max-voxels");

  fs::path mha = d / "huge.mha";
  write_bytes(mha, "ObjectType = Image\nNDims = 3\nDimSize = 60000 60000 60000\n"
                   "ElementType = MET_FLOAT\nElementDataFile = LOCAL\n");
  std::string m2 = error_of([&] { read_image(mha.string()); });
  EXPECT_HAS(m2, "cannot read " + mha.string() + ": its header declares 60000x60000x60000 = "
                 "216000000000000 voxels, more than the limit of 2147483648 voxels");

  fs::path wide = d / "wide.nii";  // few enough voxels, but too many bytes for a 1 GiB limit
  write_bytes(wide, test::nifti1_header({3, 1024, 1024, 300}));
  ReadLimits small;
  small.max_bytes = int64_t(1) << 30;
  std::string m3 = error_of([&] { read_image(wide.string(), small); });
  EXPECT_HAS(m3, "1024x1024x300 voxels x 1 channel(s) = 1.17 GiB as float32, more than the "
                 "memory limit of 1 GiB");
  EXPECT_HAS(m3, "--max-memory");
  // Within the limits, the same header is a truncated file.
  std::string m4 = error_of([&] { read_image(wide.string()); });
  EXPECT_HAS(m4, "the file is truncated (its header declares 1258291200 bytes of voxels from "
                 "byte 352, the file holds 348 bytes)");
}

TEST(ImageErrors, FourDimensionalImageIsNamed) {
  fs::path p = fresh_dir("4d") / "fmri.nii";
  write_bytes(p, test::nifti1_header({4, 2, 2, 2, 3}) + std::string(4, '\0') +
                     std::string(2 * 2 * 2 * 3 * 4, '\0'));
  std::string m = error_of([&] { read_image(p.string()); });
  EXPECT_HAS(m, "cannot read " + p.string() + ": it is a 4D image (size 2x2x2x3)");
}

TEST(ImageErrors, ChannelGeometryMismatchNamesBothFiles) {
  fs::path d = fresh_dir("mismatch");
  Geometry g = test::oblique_geometry_3d(), h = g;
  h.origin[2] += 5.0;
  std::string a = (d / "case_0000.nii.gz").string(), b = (d / "case_0001.nii.gz").string();
  write_image(a, test::integer_volume(g), g, "int16");
  write_image(b, test::integer_volume(h), h, "int16");
  std::string m = error_of([&] { read_image_channels({a, b}); });
  EXPECT_HAS(m, "channel files " + a + " and " + b + " of one case differ in geometry: origin");
}

// ---------------------------------------------------------------- writing
TEST(ImageErrors, WriteIntoMissingFolderNamesTheFile) {
  Geometry g = test::oblique_geometry_3d();
  std::string m = error_of(
      [&] { write_image("/nonexistent_useg_dir/out/mask.nii.gz", test::integer_volume(g), g); });
  EXPECT_HAS(m, "cannot write /nonexistent_useg_dir/out/mask.nii.gz: the folder "
                "/nonexistent_useg_dir/out does not exist");
}

TEST(ImageErrors, PngNeedsEightOrSixteenBitPixels) {
  fs::path d = fresh_dir("pngfloat");
  Geometry g = test::oblique_geometry_2d();
  std::string m = error_of(
      [&] { write_image((d / "x.png").string(), test::integer_volume(g, 3), g, "float"); });
  EXPECT_HAS(m, "PNG holds only uint8 or uint16 pixels, not float");
  std::string m2 = error_of(
      [&] { write_image((d / "x.nii").string(), test::integer_volume(g, 3), g, "int64"); });
  EXPECT_HAS(m2, "unknown pixel type 'int64' (choose uint8, uint16, uint32, int16 or float)");
  EXPECT_TRUE(fs::is_empty(d));
}

TEST(ImageErrors, WritesLeaveNoTemporaryFiles) {
  fs::path d = fresh_dir("atomic");
  Geometry g = test::oblique_geometry_3d();
  for (const char* ext : {".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd", ".tif"}) {
    std::string path = (d / (std::string("out") + ext)).string();
    write_image(path, test::integer_volume(g), g, "int16");
    write_image(path, test::integer_volume(g, 5), g, "int16");  // replace
    EXPECT_EQ(read_image(path).voxels.at(0, 0, 0, 0, 0), 5.0f) << ext;
  }
  EXPECT_EQ(count_temp_files(d), 0);
  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(d)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  // .nhdr and .mhd keep their data next to them under the final name.
  EXPECT_EQ(names, (std::vector<std::string>{"out.mha", "out.mhd", "out.nhdr", "out.nii",
                                             "out.nii.gz", "out.nrrd", "out.raw", "out.tif"}));
}

TEST(ImageErrors, PngRefusesAVolume) {
  fs::path d = fresh_dir("pngvolume");
  Geometry g = test::oblique_geometry_3d();
  std::string m = error_of(
      [&] { write_image((d / "x.png").string(), test::integer_volume(g, 30), g, "uint8"); });
  EXPECT_HAS(m, "PNG holds one 2D slice, this volume has 4");
  EXPECT_TRUE(fs::is_empty(d));
}

// Each file exists, then is rewritten under a name whose temporary name is too long for the
// file system (NAME_MAX 255), so the temporary file cannot be created; then ITK itself fails
// half-way. Either way the old file must survive intact and no temporary file may remain.
TEST(ImageErrors, FailedWriteKeepsThePreviousFile) {
  fs::path d = fresh_dir("keep");
  Geometry g = test::oblique_geometry_3d();
  for (const char* ext : {".nii", ".nii.gz", ".nrrd", ".mha", ".tif"}) {
    std::string name = std::string(250 - std::strlen(ext), 'k') + ext;
    std::string path = (d / name).string();
    write_bytes(path, "previous content");
    std::string m = error_of([&] { write_image(path, test::integer_volume(g), g, "int16"); });
    EXPECT_HAS(m, "cannot write " + path + ": ");
    EXPECT_EQ(slurp(path), "previous content") << ext;
  }
  // A failure inside ITK, after the temporary file exists: TIFF has no uint32 pixels.
  std::string tif = (d / "mask.tif").string();
  write_image(tif, test::integer_volume(g, 30), g, "uint8");
  std::string before = slurp(tif);
  std::string m = error_of([&] { write_image(tif, test::integer_volume(g), g, "uint32"); });
  EXPECT_HAS(m, "cannot write " + tif + ": TIFF supports unsigned/signed char, unsigned/signed "
                "short, and float");
  EXPECT_EQ(slurp(tif), before);
  EXPECT_EQ(count_temp_files(d), 0);
}

}  // namespace
}  // namespace useg
