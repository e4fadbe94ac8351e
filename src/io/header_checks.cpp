// Header checks run before ITK's MetaIO and NRRD (teem) readers parse a file: each refuses what
// fuzzing showed those readers to crash or hang on, with a message naming the file.
//
// MetaImage (.mha/.mhd): MetaIO copies
// every key it reads into a fixed 255-byte field name with strcpy: a longer key (found by
// fuzzing: a key of a few hundred 0xFF bytes) overflows that buffer — glibc's fortify check
// then aborts the whole process. Keys are short in every real header ("ElementSpacing"), so a
// header line whose key (the text before '=' or ':') is long is refused here. MetaIO also sizes
// the arrays it reads (ElementSpacing, Offset, TransformMatrix...) from NDims without a check:
// NDims = -1 makes it read 2^64 numbers, i.e. hang (found by fuzzing); NDims must be 1..10.
// The data file name and file patterns are checked too (see ElementDataFile below).
#include <itk_zlib.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "io/io_common.h"
#include "useg/error.h"

namespace useg::io {

namespace {

// Keys whose values MetaIO parses as numbers (arrays sized by NDims), not copied as text.
bool is_numeric_meta_key(const std::string& key) {
  static const char* const keys[] = {
      "NDims", "DimSize", "ElementSpacing", "ElementSize", "Offset", "Position", "Origin",
      "TransformMatrix", "Rotation", "Orientation", "CenterOfRotation", "HeaderSize",
      "CompressedDataSize", "ElementNumberOfChannels", "ElementMin", "ElementMax", "Color", "ID",
      "ParentID", "SequenceID", "ElementToIntensityFunctionSlope",
      "ElementToIntensityFunctionOffset"};
  for (const char* k : keys)
    if (key == k) return true;
  return false;
}

}  // namespace

void check_meta_header(const std::string& path) {
  constexpr size_t kMaxKey = 200;       // MetaIO's buffer holds 254 characters
  constexpr size_t kMaxNumbers = 2000;  // a 3D TransformMatrix takes ~200 characters
  constexpr int kMaxLines = 1000;     // headers have ~20 lines; then binary data follows
  std::ifstream in(path, std::ios::binary);
  std::string line, pending;  // MetaIO's keys run across lines until a '=' or ':' (fuzzing)
  // A line "NDims" alone: MetaIO may take the key as ended there and read its value after the
  // next '=' or ':', lines later (fuzzing: "NDims", two lines on, ": 3699999999999995" — a hang).
  bool ndims_pending = false;
  auto check_ndims = [&](const std::string& value) {
    char* end = nullptr;
    const long n = std::strtol(value.c_str(), &end, 10);
    const bool only_spaces =
        end && value.find_first_not_of(" \t\r", end - value.c_str()) == std::string::npos;
    if (end == value.c_str() || !only_spaces || n < 1 || n > 10)
      USEG_THROW("cannot read " << path << ": its MetaImage header declares NDims =" << value
                                << " (expected 1 to 10)");
  };
  for (int i = 0; i < kMaxLines && std::getline(in, line); ++i) {
    const size_t sep = line.find_first_of("=:");
    if (sep != std::string::npos && ndims_pending) {
      ndims_pending = false;
      check_ndims(line.substr(sep + 1));
    }
    const std::string key = pending + line.substr(0, sep);
    const size_t a = key.find_first_not_of(" \t\r\n"), b = key.find_last_not_of(" \t\r\n");
    const size_t length = a == std::string::npos ? 0 : b - a + 1;
    if (length > kMaxKey)
      USEG_THROW("cannot read " << path << ": line " << i + 1 << " of its MetaImage header has a "
                                << length << "-character key (at most " << kMaxKey
                                << "); the file is corrupt or not a MetaImage");
    if (sep == std::string::npos) {
      if (meta_key(line) == "NDims") ndims_pending = true;
      pending = key + "\n";
      continue;
    }
    pending.clear();
    if (length == 0) continue;
    // MetaIO compares keys as C strings: "ElementDataFile\0junk" is ElementDataFile (fuzzing
    // hid a file pattern that way), so the name ends at the first NUL.
    const std::string name = meta_key(key);
    // MetaIO reads a text value (ObjectType, Name, Comment, ElementType, ...) into a buffer of
    // ~500 bytes and then strcpy's it into a 255-byte field: a longer value overflows (found by
    // fuzzing: a 260-character ObjectType; glibc's fortify check aborts the process). Text
    // values are limited like keys; the numeric ones (read number by number) get more room.
    const size_t value_length = line.size() - sep - 1;
    const size_t max_value = is_numeric_meta_key(name) ? kMaxNumbers : kMaxKey;
    if (value_length > max_value)
      USEG_THROW("cannot read " << path << ": line " << i + 1 << " of its MetaImage header ("
                                << name << ") has a " << value_length
                                << "-character value (at most " << max_value
                                << "); the file is corrupt or not a MetaImage");
    if (name == "NDims") check_ndims(line.substr(sep + 1));
    if (name == "ElementDataFile") {
      // MetaIO keeps the data file name in a fixed 255-byte buffer too (a longer one: heap
      // overflow, found by fuzzing).
      const std::string value = line.substr(sep + 1);
      if (value.size() > kMaxKey)
        USEG_THROW("cannot read " << path << ": its MetaImage ElementDataFile value has "
                                  << value.size() << " characters (at most " << kMaxKey << ")");
      // A file pattern ("slice%03d.raw 1 40 1") is handed by MetaIO to a printf-style
      // formatter with the file's own format string, and its step divides: fuzzing found a
      // SIGFPE (step 0) and an uncaught length_error ("%999999999d"); "%n" would write memory.
      // Patterns are refused: convert such a series to one .mha or .nrrd file.
      if (value.find('%') != std::string::npos)
        USEG_THROW("cannot read " << path << ": its MetaImage ElementDataFile is a file pattern ("
                                  << value << "), which useg does not read; convert the series "
                                              "to a single .mha or .nrrd file");
      return;
    }
  }
}

// NRRD (.nrrd/.nhdr): teem formats its error messages, which quote the offending header line,
// into a fixed stack buffer (~1 KB) without a bound: a long malformed line smashes the stack
// (found by fuzzing; glibc aborts the process). Header lines are limited to 700 characters. A
// detached header's data file must be a regular file (not a FIFO or a device such as
// /dev/stdin, on which the read would block), and file patterns are refused as for MetaImage
// (teem hands the file's pattern to sprintf).
void check_nrrd_header(const std::string& path) {
  constexpr size_t kMaxLine = 700;
  std::ifstream in(path, std::ios::binary);
  std::string line;
  for (int i = 0; i < 10000 && std::getline(in, line); ++i) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() && i > 0) return;  // end of the header (attached data follows)
    if (line.size() > kMaxLine)
      USEG_THROW("cannot read " << path << ": line " << i + 1 << " of its NRRD header has "
                                << line.size() << " characters (at most " << kMaxLine << ")");
    const size_t colon = line.find(':');
    if (colon == std::string::npos || line[0] == '#') continue;
    std::string key = line.substr(0, colon);
    if (key != "data file" && key != "datafile") continue;
    std::string value = line.substr(colon + 1);
    const size_t a = value.find_first_not_of(" \t");
    value = a == std::string::npos ? "" : value.substr(a);
    if (value.find('%') != std::string::npos)
      USEG_THROW("cannot read " << path << ": its NRRD data file is a file pattern (" << value
                                << "), which useg does not read; convert the series to a single "
                                   ".nrrd file");
    if (value.rfind("LIST", 0) == 0 || value.find(' ') != std::string::npos) continue;
    namespace fs = std::filesystem;
    fs::path data = fs::path(value).is_absolute() ? fs::path(value)
                                                  : fs::path(path).parent_path() / value;
    std::error_code ec;
    if (!fs::is_regular_file(data, ec)) {
      // teem also tries the name with ".gz"/".bz2" appended; only a regular file may be read.
      bool alternative = fs::is_regular_file(data.string() + ".gz", ec) ||
                         fs::is_regular_file(data.string() + ".bz2", ec);
      if (!alternative)
        USEG_THROW("cannot read " << path << ": its data file " << data.string()
                                  << (fs::exists(data, ec) ? " is not a regular file"
                                                           : " is missing"));
    }
  }
}

// NIfTI (.nii/.nii.gz): ITK builds the image direction from the header's pixdim, quaternion and
// sform with an SVD from vnl, which abort()s the process on a NaN or infinite entry (found by
// fuzzing). Those fields must be finite: pixdim[1..3] always, the quaternion and its offsets when
// qform_code > 0, the sform rows when sform_code > 0. Other files (not NIfTI-1/2 headers) are
// left to ITK.
namespace {

template <typename T>
double nifti_value(const unsigned char* h, size_t offset, bool swap) {
  unsigned char b[sizeof(T)];
  std::memcpy(b, h + offset, sizeof(T));
  if (swap)
    for (size_t i = 0; i < sizeof(T) / 2; ++i) std::swap(b[i], b[sizeof(T) - 1 - i]);
  T v;
  std::memcpy(&v, b, sizeof(T));
  return static_cast<double>(v);
}

}  // namespace

void check_nifti_header(const std::string& path) {
  unsigned char h[540] = {};
  int got = 0;
  gzFile gzf = gzopen(path.c_str(), "rb");  // reads plain files as they are
  if (!gzf) return;
  got = gzread(gzf, h, sizeof h);
  gzclose(gzf);
  if (got < 348) return;
  // The version and byte order as niftilib decides them: sizeof_hdr (348 or 540), else the
  // NIfTI-2 magic, else NIfTI-1 (fuzzing found niftilib reading headers whose sizeof_hdr and
  // magic were both mangled, which this check once skipped), and the byte order from dim[0]
  // (1..7), falling back on sizeof_hdr.
  const int32_t size = static_cast<int32_t>(nifti_value<int32_t>(h, 0, false));
  const int32_t swapped_size = static_cast<int32_t>(nifti_value<int32_t>(h, 0, true));
  bool v2;
  if (size == 348 || swapped_size == 348) v2 = false;
  else if (size == 540 || swapped_size == 540) v2 = true;
  else if (got >= 540 && (!std::memcmp(h + 4, "n+2", 3) || !std::memcmp(h + 4, "ni2", 3))) v2 = true;
  else v2 = false;  // (a mangled magic too: fuzzing found niftilib reading such a header)
  if (v2 && got < 540) return;
  bool swap;
  const double dim0 = v2 ? nifti_value<int64_t>(h, 16, false) : nifti_value<int16_t>(h, 40, false);
  const double dim0_swapped =
      v2 ? nifti_value<int64_t>(h, 16, true) : nifti_value<int16_t>(h, 40, true);
  const int32_t header_bytes = v2 ? 540 : 348;
  if (dim0 >= 1 && dim0 <= 7) swap = false;
  else if (dim0_swapped >= 1 && dim0_swapped <= 7) swap = true;
  else if (dim0 != 0) return;  // niftilib refuses the file itself
  else if (size == header_bytes) swap = false;
  else if (swapped_size == header_bytes) swap = true;
  else return;
  auto value = [&](size_t off) {
    return v2 ? nifti_value<double>(h, off, swap) : nifti_value<float>(h, off, swap);
  };
  const size_t w = v2 ? 8 : 4;
  const size_t pixdim = v2 ? 104 : 76, quatern = v2 ? 352 : 256, srow = v2 ? 400 : 280;
  const int qform_code = static_cast<int>(v2 ? nifti_value<int32_t>(h, 344, swap)
                                             : nifti_value<int16_t>(h, 252, swap));
  const int sform_code = static_cast<int>(v2 ? nifti_value<int32_t>(h, 348, swap)
                                             : nifti_value<int16_t>(h, 254, swap));
  auto require_finite = [&](size_t first, int count, const char* what) {
    for (int i = 0; i < count; ++i)
      if (!std::isfinite(value(first + size_t(i) * w)))
        USEG_THROW("cannot read " << path << ": its NIfTI header has a non-finite " << what
                                  << " (NaN or infinity); the file is corrupt");
  };
  require_finite(pixdim + w, 3, "voxel spacing (pixdim)");
  if (qform_code > 0) require_finite(quatern, 6, "qform (quaternion or offset)");
  if (sform_code > 0) require_finite(srow, 12, "sform (srow_x/y/z)");
  // Finite but huge entries hang the same SVD (fuzzing: an sform entry of -1.7e38 made vnl's
  // float SVD loop for minutes). A voxel axis longer than 1e6 mm is no scan: refused.
  constexpr double kMaxAxis = 1e6;
  auto require_bounded = [&](size_t first, int count, const char* what) {
    for (int i = 0; i < count; ++i) {
      const double v = value(first + size_t(i) * w);
      if (std::fabs(v) > kMaxAxis)
        USEG_THROW("cannot read " << path << ": its NIfTI header has a " << what << " of " << v
                                  << " (at most " << kMaxAxis << " mm); the file is corrupt");
    }
  };
  require_bounded(pixdim + w, 3, "voxel spacing (pixdim)");
  if (sform_code > 0)
    for (int row = 0; row < 3; ++row)
      require_bounded(srow + size_t(row) * 4 * w, 3, "sform axis entry (srow_x/y/z)");
}

}  // namespace useg::io
