// Internal helpers shared by the image readers and writers (no ITK in this header): file-name
// extensions, the memory guard, and the rephrasing of ITK's exception text.
#pragma once

#include <cstdint>
#include <cstring>
#include <utility>
#include <string>

#include "useg/image.h"

namespace useg::io {

// A T from the bytes at p (unaligned), byte-swapped when the file's byte order is not ours.
template <typename T>
T read_raw(const unsigned char* p, bool swap) {
  unsigned char b[sizeof(T)];
  std::memcpy(b, p, sizeof(T));
  if (swap)
    for (size_t i = 0; i < sizeof(T) / 2; ++i) std::swap(b[i], b[sizeof(T) - 1 - i]);
  T v;
  std::memcpy(&v, b, sizeof(T));
  return v;
}

// A MetaImage header key as ITK's MetaIO compares it: `text` (what precedes the '=' or ':', or
// a whole line without either) up to its first NUL byte, since MetaIO compares C strings
// ("ElementDataFile\0junk" is ElementDataFile), with blanks trimmed at both ends.
inline std::string meta_key(const std::string& text) {
  const std::string key = text.substr(0, text.find('\0'));
  const size_t a = key.find_first_not_of(" \t\r\n"), b = key.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? "" : key.substr(a, b - a + 1);
}

// The supported extension of `path` in lower case (".nii.gz", ".nrrd", ...), or "" when the
// name ends in none of them.
std::string image_extension(const std::string& path);
// ".nii .nii.gz .nrrd .nhdr .mha .mhd .tif .tiff .png" (for error messages).
std::string supported_extensions();
// "NIfTI", "NRRD", "MetaImage", "TIFF", "PNG" for a supported extension.
std::string format_for_extension(const std::string& ext);
// Formats whose header names a separate data file (.nhdr, .mhd).
bool is_detached_header(const std::string& ext);

// True when `dir` is a directory holding DICOM files (a *.dcm name, or the "DICM" magic at byte
// 128 of one of its first regular files).
bool is_dicom_directory(const std::string& dir);

// Throws before any voxel is allocated when `geometry` x `components` exceeds `limits`. The
// message names the file, the declared size, the limit and the flag that raises it.
void check_read_limits(const std::string& path, const Geometry& geometry, int components,
                       const ReadLimits& limits);

// Checks that `path` names a non-empty regular file (or a directory when allowed); throws
// "cannot read <path>: no such file or directory" / "...: the file is empty (0 bytes)" / ...
void check_readable_file(const std::string& path);

// What ITK's MetaIO itself parsed from a MetaImage header (itk_io.cpp: meta_facts), so that the
// data checks below look at the data file MetaIO will open, not at our reading of the header.
struct MetaFacts {
  std::string data_file;  // ElementDataFile as MetaIO holds it ("LOCAL", a name, "LIST ...")
  bool compressed = false;
  int header_size = 0;
};

// Throws "cannot read <path>: the file is truncated (...)" when the voxel data a NIfTI (.nii,
// .nii.gz), MetaImage (.mha, .mhd) or TIFF file declares is not all there: ITK 5.2 reads such
// files without error, zero-filling what is missing. `data_bytes` is the uncompressed voxel data
// size from the header, `pages` the number of TIFF pages expected, `meta` what MetaIO parsed
// (required for .mha/.mhd). A MetaImage data file must be a regular file, a compressed one must
// declare a positive CompressedDataSize that the file holds. Other formats: no-op (their ITK
// readers report short reads themselves).
void check_not_truncated(const std::string& path, const std::string& ext, int64_t data_bytes,
                         int64_t pages, const MetaFacts* meta = nullptr);

// Puts back the NaN and +-Inf voxels of a float32/float64 NIfTI file (.nii, or .nii.gz when
// `gz`) into `voxels` (`count` values as ITK read them), which ITK's niftilib replaced by 0
// (nifti_nonfinite.cpp). Other files, and files whose data cannot be read again, are left as
// they are.
void restore_nifti_non_finite(const std::string& path, bool gz, float* voxels, int64_t count);

// Reads a PNG file's chunks up to the image data with libpng under our own error handler and
// throws "cannot read <path>: not a valid PNG file (<libpng's reason>)" when they are malformed.
// Run before ITK's PNG reader, which aborts the process on such files (see png_check.cpp).
void check_png_header(const std::string& path);

// Refuses a MetaImage header with a key longer than 200 characters, which ITK's MetaIO copies
// into a 255-byte buffer without a bound, and other inputs that crash or hang MetaIO
// (header_checks.cpp).
void check_meta_header(const std::string& path);
// Refuses a NIfTI header whose spacing, qform or sform (those in use) is NaN or infinite: ITK's
// orientation code (vnl SVD) aborts the process on it (header_checks.cpp).
void check_nifti_header(const std::string& path);
// Refuses NRRD headers that crash or hang ITK's teem reader: lines over 700 characters, a data
// file that is not a regular file, file patterns (header_checks.cpp).
void check_nrrd_header(const std::string& path);

// "" when the DICOM Part 10 file `file` holds all the pixel data it declares; otherwise what is
// missing (GDCM reads a cut slice without error). Compressed or non-Part-10 files pass.
std::string dicom_truncation(const std::string& file);

// ITK's exception description made readable: the "itk::ERROR: Class(0x...): " prefix and the
// source location are dropped, whitespace is collapsed and the text is cut to ~300 characters.
std::string trim_itk_description(const std::string& description);

}  // namespace useg::io
