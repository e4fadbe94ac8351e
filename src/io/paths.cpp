// Image paths and read guards that need no ITK: extensions, DICOM folders, the memory guard and
// the rephrasing of ITK's exception text.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <regex>
#include <sstream>

#include "io/io_common.h"
#include "useg/error.h"
#include "useg/image.h"

namespace fs = std::filesystem;

namespace useg {
namespace io {

namespace {

// Longest first, so ".nii.gz" wins over a plain ".gz" check.
const char* const kExtensions[] = {".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha",
                                   ".mhd",    ".tif", ".tiff", ".png"};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() > tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

bool has_dicm_magic(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  char magic[4] = {};
  if (!in.seekg(128) || !in.read(magic, 4)) return false;
  return std::memcmp(magic, "DICM", 4) == 0;
}

// a*b saturating at int64 max (sizes in headers are untrusted).
int64_t mul_sat(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::numeric_limits<int64_t>::max();
  return r;
}

std::string human_bytes(int64_t bytes) {
  std::ostringstream os;
  os.precision(3);
  double b = static_cast<double>(bytes);
  if (b >= double(int64_t(1) << 30))
    os << b / double(int64_t(1) << 30) << " GiB";
  else
    os << b / double(1 << 20) << " MiB";
  return os.str();
}

}  // namespace

std::string image_extension(const std::string& path) {
  std::string name = lower(fs::path(path).filename().string());
  for (const char* ext : kExtensions)
    if (ends_with(name, ext)) return ext;
  return "";
}

std::string supported_extensions() {
  return ".nii .nii.gz .nrrd .nhdr .mha .mhd .tif .tiff .png";
}

std::string format_for_extension(const std::string& ext) {
  if (ext == ".nii" || ext == ".nii.gz") return "NIfTI";
  if (ext == ".nrrd" || ext == ".nhdr") return "NRRD";
  if (ext == ".mha" || ext == ".mhd") return "MetaImage";
  if (ext == ".tif" || ext == ".tiff") return "TIFF";
  if (ext == ".png") return "PNG";
  return "";
}

bool is_detached_header(const std::string& ext) { return ext == ".nhdr" || ext == ".mhd"; }

bool is_dicom_directory(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return false;
  int examined = 0;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    std::string name = p.filename().string();
    if (name.empty() || name[0] == '.' || !it->is_regular_file(ec)) continue;
    if (ends_with(lower(name), ".dcm")) return true;
    // Files without extension (typical of scanner exports): look at a few of them.
    if (examined++ < 8 && has_dicm_magic(p)) return true;
  }
  return false;
}

void check_read_limits(const std::string& path, const Geometry& g, int components,
                       const ReadLimits& limits) {
  std::ostringstream size;
  size << g.size[0] << "x" << g.size[1];
  if (g.dims == 3) size << "x" << g.size[2];
  if (g.size[0] <= 0 || g.size[1] <= 0 || g.size[2] <= 0)
    USEG_THROW("cannot read " << path << ": its header declares an empty image (size "
                              << size.str() << ")");
  int64_t voxels = mul_sat(mul_sat(g.size[0], g.size[1]), g.size[2]);
  if (voxels > limits.max_voxels)
    USEG_THROW("cannot read " << path << ": its header declares " << size.str() << " = "
                              << voxels << " voxels, more than the limit of "
                              << limits.max_voxels
                              << " voxels (raise it with --max-voxels if the file is right)");
  int64_t bytes = mul_sat(mul_sat(voxels, std::max(components, 1)), 4);
  if (bytes > limits.max_bytes)
    USEG_THROW("cannot read " << path << ": its header declares " << size.str() << " voxels x "
                              << components << " channel(s) = " << human_bytes(bytes)
                              << " as float32, more than the memory limit of "
                              << human_bytes(limits.max_bytes)
                              << " (raise it with --max-memory if the file is right)");
}

void check_readable_file(const std::string& path) {
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) USEG_THROW("cannot read " << path << ": no such file or directory");
  if (!fs::is_regular_file(st)) USEG_THROW("cannot read " << path << ": not a regular file");
  if (::access(path.c_str(), R_OK) != 0)
    USEG_THROW("cannot read " << path << ": " << std::strerror(errno));
  if (fs::file_size(path, ec) == 0 && !ec)
    USEG_THROW("cannot read " << path << ": the file is empty (0 bytes)");
}

std::string trim_itk_description(const std::string& description) {
  static const std::regex noise(R"((itk::ERROR: )|(ITK ERROR: )|(\b\w+\(0x[0-9a-fA-F]+\): ))");
  std::string s = std::regex_replace(description, noise, "");
  std::string out;
  bool space = false;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  if (out.size() > 300) out = out.substr(0, 297) + "...";
  return out.empty() ? "unknown ITK error" : out;
}

}  // namespace io

bool is_image_path(const std::string& path) {
  if (!io::image_extension(path).empty()) return true;
  return io::is_dicom_directory(path);
}

}  // namespace useg
