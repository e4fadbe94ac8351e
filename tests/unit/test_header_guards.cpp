// Headers that crash or hang ITK's readers are refused before ITK touches the voxels, each with a
// message naming the file and the cause. Every case here was first found by the image fuzzer
// (the reproducers are in tests/data/fuzz/image); these tests build the same defects by hand and
// check the words of the refusal, and that well-formed files with the same features still read.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "common/expect_error.h"
#include "common/file_bytes.h"
#include "common/image_fixtures.h"
#include "useg/error.h"
#include "useg/image.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

using test::error_of;
using test::fresh_dir;
using test::slurp;
using test::write_bytes;

const std::string kMetaStart =
    "ObjectType = Image\nNDims = 2\nDimSize = 4 3\nElementType = MET_UCHAR\n";

// ---------------------------------------------------------------- MetaImage
// MetaIO takes ':' as well as '=' between key and value; with "ElementDataFile: ." the data
// "file" is the folder itself, whose size tellg() reports as 2^63 - 1 (MetaIO then allocated
// that much for compressed data). Which file MetaIO opens now comes from MetaIO itself.
TEST(HeaderGuards, MetaImageDataFileMustBeARegularFile) {
  fs::path d = fresh_dir("meta_dir_data");
  fs::path compressed = d / "colon.mhd";
  write_bytes(compressed,
              kMetaStart + "CompressedData = True\nCompressedDataSize = 20\nElementDataFile: .\n");
  std::string m = error_of([&] { read_image(compressed.string()); });
  EXPECT_HAS(m, "cannot read " + compressed.string() + ": its data file ");
  EXPECT_HAS(m, " is not a regular file");

  fs::path plain = d / "plain.mhd";
  write_bytes(plain, kMetaStart + "ElementDataFile : sub\n");
  fs::create_directory(d / "sub");
  std::string m2 = error_of([&] { read_image(plain.string()); });
  EXPECT_HAS(m2, "its data file " + (d / "sub").string() + " is not a regular file");

  fs::path missing = d / "missing.mhd";
  write_bytes(missing, kMetaStart + "ElementDataFile: nowhere.raw\n");
  std::string m3 = error_of([&] { read_image(missing.string()); });
  EXPECT_HAS(m3, "its data file " + (d / "nowhere.raw").string() + " is missing");

  // The same header with a real data file (and the ':' separator) reads.
  write_bytes(d / "pixels.raw", std::string("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c", 12));
  fs::path good = d / "good.mhd";
  write_bytes(good, kMetaStart + "ElementDataFile: pixels.raw\n");
  Image img = read_image(good.string());
  ASSERT_EQ(img.voxels.numel(), 12);
  EXPECT_EQ(img.voxels.data()[0], 1.0f);
  EXPECT_EQ(img.voxels.data()[11], 12.0f);
}

// MetaIO allocates CompressedDataSize bytes before reading them: every value given must be a
// positive number the file can hold, whatever separator the header uses.
TEST(HeaderGuards, MetaImageCompressedSizeIsChecked) {
  fs::path d = fresh_dir("meta_compressed");
  Geometry g = test::oblique_geometry_3d();
  fs::path good = d / "good.mha";
  write_image(good.string(), test::integer_volume(g), g, "int16");  // ITK compresses .mha
  std::string bytes = slurp(good);
  const size_t key = bytes.find("CompressedDataSize = ");
  ASSERT_NE(key, std::string::npos) << "ITK wrote an uncompressed .mha";
  const size_t eol = bytes.find('\n', key);
  const std::string before = bytes.substr(0, key), after = bytes.substr(eol);
  EXPECT_EQ(read_image(good.string()).voxels.numel(), g.voxels());

  fs::path huge = d / "huge.mha";
  write_bytes(huge, before + "CompressedDataSize: 1e15" + after);
  std::string m = error_of([&] { read_image(huge.string()); });
  EXPECT_HAS(m, "cannot read " + huge.string() + ": the file is truncated (its header declares "
                "1000000000000000 compressed bytes of voxels");

  fs::path negative = d / "negative.mha";
  write_bytes(negative, before + "CompressedDataSize = -5" + after);
  std::string m2 = error_of([&] { read_image(negative.string()); });
  EXPECT_HAS(m2, "cannot read " + negative.string() + ": its MetaImage header says "
                 "CompressedData = True but gives no positive CompressedDataSize");

  fs::path none = d / "none.mha";
  write_bytes(none, before.substr(0, before.size()) + "Comment = no size" + after);
  std::string m3 = error_of([&] { read_image(none.string()); });
  EXPECT_HAS(m3, "gives no positive CompressedDataSize");
}

// A zlib stream asking for a preset dictionary: MetaIO's inflate loop spun forever on it.
TEST(HeaderGuards, MetaImageZlibPresetDictionaryIsRefused) {
  fs::path d = fresh_dir("meta_fdict");
  Geometry g = test::oblique_geometry_3d();
  fs::path good = d / "good.mha";
  write_image(good.string(), test::integer_volume(g), g, "int16");
  std::string bytes = slurp(good);
  const std::string key = "ElementDataFile = LOCAL\n";
  const size_t data = bytes.find(key);
  ASSERT_NE(data, std::string::npos);
  const size_t start = data + key.size();
  ASSERT_EQ(static_cast<unsigned char>(bytes[start]), 0x78) << "not a zlib stream";
  bytes[start + 1] = 0x20;  // FDICT set; 0x7820 is a multiple of 31, as zlib requires
  fs::path bad = d / "fdict.mha";
  write_bytes(bad, bytes);
  std::string m = error_of([&] { read_image(bad.string()); });
  EXPECT_HAS(m, "cannot read " + bad.string() + ": its compressed voxel data asks for a preset "
                "zlib dictionary");
}

TEST(HeaderGuards, MetaImageFileListsAreRefused) {
  fs::path d = fresh_dir("meta_list");
  write_bytes(d / "a.raw", std::string(12, '\x01'));
  fs::path p = d / "list.mhd";
  write_bytes(p, kMetaStart + "ElementDataFile = LIST\na.raw\n");
  std::string m = error_of([&] { read_image(p.string()); });
  EXPECT_HAS(m, "cannot read " + p.string() + ": its MetaImage ElementDataFile is a LIST of "
                "files, which useg does not read");
}

// "NDims" alone on its line: MetaIO can read its value after the next separator, lines later
// (fuzzing: a value of 3.7e15 there made it loop over that many numbers).
TEST(HeaderGuards, MetaImageNDimsValueOnALaterLineIsChecked) {
  fs::path p = fresh_dir("meta_ndims_later") / "later.mha";
  write_bytes(p, "ObjectType = Image\nNDims\nsome text\n: 3699999999999995\nDimSize = 4 3\n"
                 "ElementType = MET_UCHAR\nElementDataFile = LOCAL\n" + std::string(12, '\x01'));
  std::string m = error_of([&] { read_image_info(p.string()); });
  EXPECT_HAS(m, "cannot read " + p.string() + ": its MetaImage header declares NDims = "
                "3699999999999995 (expected 1 to 10)");
}

// An axis of size 0 beyond the third (fuzzing: a header redefining NDims) made ITK's buffer 0
// bytes while ours was sized from the first three axes.
TEST(HeaderGuards, MetaImageAxisOfSizeZeroIsRefused) {
  fs::path p = fresh_dir("meta_zero_axis") / "zero.mha";
  write_bytes(p, "ObjectType = Image\nNDims = 4\nDimSize = 4 3 1 0\nElementType = MET_SHORT\n"
                 "ElementDataFile = LOCAL\n" + std::string(24, '\x01'));
  std::string m = error_of([&] { read_image(p.string()); });
  EXPECT_HAS(m, "cannot read " + p.string() + ": ");
  EXPECT_HAS(m, "axis of size 0 (size 4x3x1x0)");
}

// ---------------------------------------------------------------- NIfTI
// A NIfTI-1 file of a 4x4x4 float32 volume (zero voxels) with an sform (sform_code 1).
std::string nifti_with_sform(const std::vector<float>& srow) {
  std::string h = test::nifti1_header({3, 4, 4, 4});
  const int16_t sform_code = 1;
  std::memcpy(&h[254], &sform_code, 2);
  for (int i = 0; i < 12; ++i) std::memcpy(&h[280 + 4 * i], &srow[size_t(i)], 4);
  return h + std::string(4, '\0') + std::string(64 * 4, '\0');
}

const std::vector<float> kIdentitySrow = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0};

// Finite but huge sform entries sent vnl's float SVD (ITK's direction) into a loop.
TEST(HeaderGuards, NiftiHugeSformIsRefused) {
  fs::path d = fresh_dir("nifti_sform");
  fs::path good = d / "good.nii";
  write_bytes(good, nifti_with_sform(kIdentitySrow));
  EXPECT_EQ(read_image(good.string()).voxels.numel(), 64);
  std::vector<float> srow = kIdentitySrow;
  srow[6] = -1.7e38f;
  fs::path bad = d / "huge.nii";
  write_bytes(bad, nifti_with_sform(srow));
  std::string m = error_of([&] { read_image_info(bad.string()); });
  EXPECT_HAS(m, "cannot read " + bad.string() + ": its NIfTI header has a sform axis entry "
                "(srow_x/y/z) of -1.7");
  EXPECT_HAS(m, "(at most 1e+06 mm)");
}

// niftilib recognises a NIfTI-1 header by its magic even when sizeof_hdr is mangled, so the
// header check must too (fuzzing: such a header with a NaN sform aborted the process).
TEST(HeaderGuards, NiftiWithMangledSizeofHdrIsStillChecked) {
  fs::path d = fresh_dir("nifti_sizeof");
  std::vector<float> srow = kIdentitySrow;
  srow[1] = std::nanf("");
  std::string h = nifti_with_sform(srow);
  const int32_t mangled = static_cast<int32_t>(0xf800015c);
  std::memcpy(&h[0], &mangled, 4);
  fs::path p = d / "mangled.nii";
  write_bytes(p, h);
  std::string m = error_of([&] { read_image_info(p.string()); });
  EXPECT_HAS(m, "cannot read " + p.string() + ": its NIfTI header has a non-finite sform");
  // The magic mangled too ("n+2" in a NIfTI-1 layout): niftilib still read it.
  std::memcpy(&h[344], "n+2\0", 4);
  fs::path q = d / "mangled_magic.nii";
  write_bytes(q, h);
  std::string m2 = error_of([&] { read_image_info(q.string()); });
  EXPECT_HAS(m2, "cannot read " + q.string() + ": its NIfTI header has a non-finite sform");
}

// ---------------------------------------------------------------- TIFF
// ITK reads a one-byte ASCII value of a tag libtiff does not know with strlen(): without its
// NUL that is a heap over-read. The reproducer found by fuzzing is refused with the tag named.
TEST(HeaderGuards, TiffOneCharacterTextWithoutNulIsRefused) {
  const std::string bytes =
      slurp(fs::path(USEG_TEST_DATA) / "fuzz" / "image" / "tiff-one-byte-ascii-without-nul-overread");
  ASSERT_GT(bytes.size(), 100u);
  fs::path p = fresh_dir("tiff_ascii") / "text.tif";
  write_bytes(p, bytes.substr(1));  // the first byte chose the extension
  std::string m = error_of([&] { read_image_info(p.string()); });
  EXPECT_HAS(m, "cannot read " + p.string() + ": tag 65027 of page 1 is one character of text "
                "without its terminating NUL");
}

// DateTime holds 63 bytes but its text ends at the fourth: libtiff keeps 4 bytes, ITK copies 20.
TEST(HeaderGuards, TiffDateTimeWithAnEarlyNulIsRefused) {
  const std::string bytes =
      slurp(fs::path(USEG_TEST_DATA) / "fuzz" / "image" / "tiff-datetime-early-nul-heap-overread");
  ASSERT_GT(bytes.size(), 100u);
  fs::path p = fresh_dir("tiff_datetime") / "date.tif";
  write_bytes(p, bytes.substr(1));
  std::string m = error_of([&] { read_image_info(p.string()); });
  EXPECT_HAS(m, "cannot read " + p.string() + ": the DateTime tag (306) of page 1 holds 4 bytes "
                "of text, TIFF requires 20");
}

}  // namespace
}  // namespace useg
