// Detects truncated image files before their voxels are read. ITK 5.2 reports a short read for
// NRRD and PNG, but its NIfTI (niftilib), MetaImage (MetaIO) and TIFF readers print a warning at
// most and return a partly zero-filled volume. These checks compare what each header declares
// with the bytes actually present; they read headers and trailers only (a gzip stream is fully
// decompressed only when its trailer disagrees with the header).
#include <itk_zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <vector>

#include "io/io_common.h"
#include "useg/error.h"

namespace fs = std::filesystem;

namespace useg::io {

namespace {

[[noreturn]] void truncated(const std::string& path, const std::string& detail) {
  USEG_THROW("cannot read " << path << ": the file is truncated (" << detail << ")");
}

bool read_at(std::ifstream& in, uint64_t offset, void* buf, size_t n) {
  in.clear();
  in.seekg(static_cast<std::streamoff>(offset));
  return static_cast<bool>(in.read(static_cast<char*>(buf), static_cast<std::streamsize>(n)));
}

// ---------------------------------------------------------------- NIfTI
struct NiftiLayout {
  int64_t vox_offset = 0;
  int64_t data_bytes = 0;
};

// Voxel data offset and size from a NIfTI-1 (348-byte) or NIfTI-2 (540-byte) header; false when
// the bytes are not such a header (then ITK's own checks decide).
bool parse_nifti(const unsigned char* h, size_t n, NiftiLayout* out) {
  if (n < 348) return false;
  int32_t size = read_raw<int32_t>(h, false);
  bool swap = false;
  if (size != 348 && size != 540) {
    swap = true;
    size = read_raw<int32_t>(h, true);
  }
  int64_t voxels = 1, bitpix = 0;
  if (size == 348) {
    int ndim = read_raw<int16_t>(h + 40, swap);
    if (ndim < 1 || ndim > 7) return false;
    for (int i = 1; i <= ndim; ++i)  // 7 dims of up to 32767 overflow int64: checked
      if (__builtin_mul_overflow(voxels, std::max<int64_t>(1, read_raw<int16_t>(h + 40 + 2 * i, swap)),
                                 &voxels))
        return false;
    bitpix = read_raw<int16_t>(h + 72, swap);
    // vox_offset is a float: NaN, infinities and huge values must not reach the integer
    // conversion (undefined behaviour, found by fuzzing).
    const float offset = read_raw<float>(h + 108, swap);
    if (!std::isfinite(offset)) return false;
    out->vox_offset = offset >= 4e18f ? int64_t(4e18)
                      : offset <= 348.0f ? int64_t(348)
                                         : static_cast<int64_t>(offset);
  } else if (size == 540 && n >= 540) {
    int64_t ndim = read_raw<int64_t>(h + 16, swap);
    if (ndim < 1 || ndim > 7) return false;
    for (int i = 1; i <= ndim; ++i) {
      int64_t d = read_raw<int64_t>(h + 16 + 8 * i, swap);
      if (d > 0 && __builtin_mul_overflow(voxels, d, &voxels)) return false;
    }
    bitpix = read_raw<int16_t>(h + 14, swap);
    out->vox_offset = std::max<int64_t>(540, read_raw<int64_t>(h + 168, swap));
  } else {
    return false;
  }
  if (bitpix <= 0 || __builtin_mul_overflow(voxels, bitpix / 8, &out->data_bytes)) return false;
  return true;
}

void check_nifti(const std::string& path, bool gz) {
  NiftiLayout layout;
  const int64_t file_size = static_cast<int64_t>(fs::file_size(path));
  if (!gz) {
    std::ifstream in(path, std::ios::binary);
    unsigned char h[540] = {};
    in.read(reinterpret_cast<char*>(h), sizeof h);
    if (!parse_nifti(h, static_cast<size_t>(in.gcount()), &layout)) return;
    int64_t end = 0;
    if (__builtin_add_overflow(layout.vox_offset, layout.data_bytes, &end) || file_size < end) {
      std::ostringstream os;
      os << "its header declares " << layout.data_bytes << " bytes of voxels from byte "
         << layout.vox_offset << ", the file holds " << file_size << " bytes";
      truncated(path, os.str());
    }
    return;
  }
  gzFile gzf = gzopen(path.c_str(), "rb");
  if (!gzf) return;
  unsigned char h[540] = {};
  int got = gzread(gzf, h, sizeof h);
  if (got <= 0 || !parse_nifti(h, static_cast<size_t>(got), &layout)) {
    gzclose(gzf);
    return;
  }
  int64_t needed = 0;
  if (__builtin_add_overflow(layout.vox_offset, layout.data_bytes, &needed))
    needed = std::numeric_limits<int64_t>::max();
  // Fast path: the gzip trailer holds the uncompressed size modulo 2^32.
  std::ifstream raw(path, std::ios::binary);
  unsigned char trailer[4] = {};
  if (file_size >= 18 && read_at(raw, static_cast<uint64_t>(file_size - 4), trailer, 4) &&
      read_raw<uint32_t>(trailer, false) == static_cast<uint32_t>(needed)) {
    gzclose(gzf);
    return;
  }
  // Slow path (truncated, corrupt or multi-member file): count what really decompresses.
  int64_t total = got;
  std::vector<char> buf(1 << 20);
  int n;
  // Stops once the declared size is reached: a small file inflating to terabytes (a "zip
  // bomb") costs no more than its header declares.
  while (total < needed && (n = gzread(gzf, buf.data(), static_cast<unsigned>(buf.size()))) > 0)
    total += n;
  int err = Z_OK;
  std::string zmsg = gzerror(gzf, &err);
  gzclose(gzf);
  if (total < needed) {
    std::ostringstream os;
    os << "its header declares " << layout.data_bytes << " bytes of voxels from byte "
       << layout.vox_offset << ", the compressed stream holds " << total << " bytes"
       << (err != Z_OK && !zmsg.empty() ? "; zlib: " + zmsg : "");
    truncated(path, os.str());
  }
}

// ---------------------------------------------------------------- MetaImage
// Our reading of the header text is used only where MetaIO keeps no getter: where the data of a
// LOCAL file starts (after the ElementDataFile line) and the CompressedDataSize values. Which
// data file MetaIO opens, and whether it inflates, come from MetaIO itself (MetaFacts): fuzzing
// found a header ("ElementDataFile: .", a ':' where we looked for '=') whose data "file" was a
// directory, on which MetaIO's tellg() gives 2^63 - 1 and it allocates that many bytes.
struct MetaText {
  int64_t data_start = -1;             // byte after the ElementDataFile line; -1: not found
  std::vector<double> compressed_sizes;  // every CompressedDataSize value (NaN: unreadable)
};

MetaText read_meta_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  MetaText text;
  std::string line;
  int64_t offset = 0;
  for (int i = 0; i < 1000 && std::getline(in, line); ++i) {
    const int64_t next = offset + static_cast<int64_t>(line.size()) + (in.eof() ? 0 : 1);
    const size_t sep = line.find_first_of("=:");
    const std::string key = meta_key(line.substr(0, sep));
    if (key == "CompressedDataSize") {
      // MetaIO skips '=', ':' and blanks (newlines too) and reads a number; anything else here
      // is unreadable (NaN), which a compressed file may not have.
      std::string rest = sep == std::string::npos ? "" : line.substr(sep);
      const size_t v = rest.find_first_not_of("=: \t\r");
      char* end = nullptr;
      const char* start = v == std::string::npos ? "" : rest.c_str() + v;
      double value = std::strtod(start, &end);
      text.compressed_sizes.push_back(end == start ? std::nan("") : value);
    }
    if (key == "ElementDataFile") {
      text.data_start = next;
      break;
    }
    offset = next;
  }
  return text;
}

void check_meta(const std::string& path, int64_t data_bytes, const MetaFacts& meta) {
  const std::string& name = meta.data_file;
  if (name.empty())
    USEG_THROW("cannot read " << path << ": its MetaImage header has an empty ElementDataFile");
  if (name.rfind("LIST", 0) == 0)
    USEG_THROW("cannot read " << path << ": its MetaImage ElementDataFile is a LIST of files, "
                                         "which useg does not read; convert the series to a "
                                         "single .mha or .nrrd file");
  if (name.find('%') != std::string::npos)  // (check_meta_header refuses patterns first)
    USEG_THROW("cannot read " << path << ": its MetaImage ElementDataFile is a file pattern");
  const MetaText text = read_meta_text(path);
  int64_t needed = data_bytes;
  if (meta.compressed) {
    // MetaIO allocates CompressedDataSize bytes (or, without one, the data file's size as
    // tellg() reports it): every value must be a positive number the file can hold.
    double largest = 0;
    bool valid = !text.compressed_sizes.empty();
    for (double v : text.compressed_sizes) {
      valid = valid && std::isfinite(v) && v >= 1 && v < 9e18;
      largest = std::max(largest, v);
    }
    if (!valid)
      USEG_THROW("cannot read " << path << ": its MetaImage header says CompressedData = True but "
                                           "gives no positive CompressedDataSize");
    needed = static_cast<int64_t>(largest);
  }
  const bool local = name == "LOCAL" || name == "Local" || name == "local";
  std::string holder = path;
  int64_t available, start;
  if (local) {
    start = meta.header_size > 0 ? meta.header_size : std::max<int64_t>(text.data_start, 0);
    available = static_cast<int64_t>(fs::file_size(path)) - start;
  } else {
    fs::path p = fs::path(name).is_absolute() ? fs::path(name) : fs::path(path).parent_path() / name;
    holder = p.string();
    std::error_code ec;
    if (!fs::is_regular_file(p, ec))
      USEG_THROW("cannot read " << path << ": its data file " << holder
                                << (fs::exists(p, ec) ? " is not a regular file" : " is missing"));
    start = std::max(meta.header_size, 0);
    available = static_cast<int64_t>(fs::file_size(p)) - start;
  }
  if (needed >= 0 && available < needed) {
    std::ostringstream os;
    os << "its header declares " << needed << (meta.compressed ? " compressed" : "")
       << " bytes of voxels, " << holder << " holds " << std::max<int64_t>(available, 0);
    truncated(path, os.str());
  }
  // A zlib stream that asks for a preset dictionary (FDICT, bit 5 of its second byte): MetaIO's
  // inflate loop treats zlib's Z_NEED_DICT as progress and spins forever (found by fuzzing).
  // MetaImage writers never use one.
  if (meta.compressed && available >= 2) {
    std::ifstream in(holder, std::ios::binary);
    unsigned char h[2] = {};
    if (read_at(in, static_cast<uint64_t>(start), h, 2) && (h[0] & 0x0f) == 8 &&
        (h[0] * 256 + h[1]) % 31 == 0 && (h[1] & 0x20))
      USEG_THROW("cannot read " << path << ": its compressed voxel data asks for a preset zlib "
                                           "dictionary, which MetaImage files never use; the "
                                           "file is corrupt");
  }
}

// ---------------------------------------------------------------- TIFF
// Walks the chain of image file directories (classic and BigTIFF) to its end and checks that
// every directory and every strip or tile lies inside the file, and that there are at least
// `pages` pages. A cut file shows up as a "next directory" pointer past the end of the file.
void check_tiff(const std::string& path, int64_t pages) {
  std::ifstream in(path, std::ios::binary);
  const uint64_t size = fs::file_size(path);
  unsigned char h[16] = {};
  if (size < 8 || !read_at(in, 0, h, size < 16 ? 8 : 16)) return;
  bool swap;
  if (h[0] == 'I' && h[1] == 'I') swap = false;
  else if (h[0] == 'M' && h[1] == 'M') swap = true;
  else return;
  const uint16_t one = 1;
  const bool host_big_endian = *reinterpret_cast<const unsigned char*>(&one) == 0;
  swap = swap != host_big_endian;
  const uint16_t magic = read_raw<uint16_t>(h + 2, swap);
  const bool big = magic == 43;
  if (magic != 42 && !big) return;
  uint64_t ifd = big ? read_raw<uint64_t>(h + 8, swap) : read_raw<uint32_t>(h + 4, swap);
  const size_t entry = big ? 20 : 12, count_bytes = big ? 8 : 2, next_bytes = big ? 8 : 4;
  std::set<uint64_t> seen;
  std::vector<std::vector<uint64_t>> first_layout;
  int64_t page = 0;
  for (; ifd != 0 && page < (int64_t(1) << 24); ++page) {
    std::ostringstream where;
    where << "page " << page + 1;
    if (ifd > size || ifd + count_bytes > size) {  // (unsigned: no wrap-around past size)
      std::ostringstream os;
      os << "the directory of " << where.str() << " should start at byte " << ifd
         << ", the file holds " << size << " bytes";
      truncated(path, os.str());
    }
    // A loop in the chain: ITK's bundled libtiff counts directories forever on such a file
    // (found by fuzzing), so it is refused here.
    if (!seen.insert(ifd).second) {
      std::ostringstream os;
      os << "cannot read " << path << ": its TIFF directory chain loops back to byte " << ifd
         << " after " << page << " director" << (page == 1 ? "y" : "ies")
         << "; the file is corrupt";
      USEG_THROW(os.str());
    }
    unsigned char cb[8];
    read_at(in, ifd, cb, count_bytes);
    const uint64_t n = big ? read_raw<uint64_t>(cb, swap) : read_raw<uint16_t>(cb, swap);
    if (n > size || ifd + count_bytes + n * entry + next_bytes > size)
      truncated(path, "the directory of " + where.str() + " runs past the end of the file");
    std::vector<unsigned char> dir(n * entry + next_bytes);
    read_at(in, ifd + count_bytes, dir.data(), dir.size());
    // Values of a tag as 64-bit integers (inline or at an offset).
    auto values = [&](uint16_t want) {
      std::vector<uint64_t> v;
      for (uint64_t i = 0; i < n; ++i) {
        const unsigned char* e = dir.data() + i * entry;
        if (read_raw<uint16_t>(e, swap) != want) continue;
        const uint16_t type = read_raw<uint16_t>(e + 2, swap);
        const size_t width = type == 3 ? 2 : type == 16 ? 8 : 4;
        const uint64_t count = big ? read_raw<uint64_t>(e + 4, swap) : read_raw<uint32_t>(e + 4, swap);
        const unsigned char* field = e + (big ? 12 : 8);
        if (count > size) truncated(path, "a tag of " + where.str() + " is corrupt");
        if (count == 0) continue;  // (memcpy from an empty vector's null data is UB: fuzzing)
        std::vector<unsigned char> bytes(count * width);
        if (count * width <= (big ? 8u : 4u)) {
          std::memcpy(bytes.data(), field, bytes.size());
        } else {
          uint64_t at = big ? read_raw<uint64_t>(field, swap) : read_raw<uint32_t>(field, swap);
          if (at > size || at + bytes.size() > size)
            truncated(path, "a tag of " + where.str() + " lies past the end of the file");
          read_at(in, at, bytes.data(), bytes.size());
        }
        for (uint64_t k = 0; k < count; ++k) {
          const unsigned char* b = bytes.data() + k * width;
          v.push_back(width == 2 ? read_raw<uint16_t>(b, swap)
                                 : width == 8 ? read_raw<uint64_t>(b, swap) : read_raw<uint32_t>(b, swap));
        }
      }
      return v;
    };
    // ITK 5.2's TIFFImageIO::ReadTIFFTags copies DateTime (tag 306) with libtiff's fixed
    // count of 20 bytes whatever the file stores: a shorter one is a heap over-read inside ITK
    // (found by fuzzing; AddressSanitizer), so such files are refused here.
    // It also reads a one-byte ASCII value of a tag libtiff does not know with strlen(): text
    // without its NUL is a heap over-read (fuzzing: private tag 65027 holding "\x01"). TIFF
    // text ends in a NUL, so a one-byte ASCII value must be that NUL.
    for (uint64_t i = 0; i < n; ++i) {
      const unsigned char* e = dir.data() + i * entry;
      const uint64_t count = big ? read_raw<uint64_t>(e + 4, swap) : read_raw<uint32_t>(e + 4, swap);
      if (read_raw<uint16_t>(e + 2, swap) == 2 && count == 1 && e[big ? 12 : 8] != 0) {
        std::ostringstream os;
        os << "cannot read " << path << ": tag " << read_raw<uint16_t>(e, swap) << " of "
           << where.str() << " is one character of text without its terminating NUL; the "
                             "file is corrupt";
        USEG_THROW(os.str());
      }
      if (read_raw<uint16_t>(e, swap) != 306) continue;
      // libtiff keeps the text up to its first NUL, so that must not come before byte 19 either
      // (fuzzing: 63 bytes whose fourth was a NUL).
      uint64_t text = count;
      if (count >= 20 && read_raw<uint16_t>(e + 2, swap) == 2) {
        std::vector<unsigned char> bytes(std::min<uint64_t>(count, 64));
        const unsigned char* field = e + (big ? 12 : 8);
        if (count <= (big ? 8u : 4u)) {
          std::memcpy(bytes.data(), field, bytes.size());
        } else {
          const uint64_t at = big ? read_raw<uint64_t>(field, swap) : read_raw<uint32_t>(field, swap);
          if (at > size || at + bytes.size() > size)
            truncated(path, "a tag of " + where.str() + " lies past the end of the file");
          read_at(in, at, bytes.data(), bytes.size());
        }
        const auto nul = std::find(bytes.begin(), bytes.end(), 0);
        if (nul != bytes.end()) text = static_cast<uint64_t>(nul - bytes.begin()) + 1;
      }
      if (count < 20 || text < 20) {
        std::ostringstream os;
        os << "cannot read " << path << ": the DateTime tag (306) of " << where.str()
           << " holds " << std::min(count, text) << " bytes of text, TIFF requires 20 "
              "(\"YYYY:MM:DD HH:MM:SS\" and a NUL); fix or remove the tag (e.g. tiffset -s 306 "
              "\"2000:01:01 00:00:00\" FILE)";
        USEG_THROW(os.str());
      }
    }
    // ITK reads a multi-page TIFF as a volume with the first page's layout, sizing its buffers
    // from it: a later page of another width, height or pixel layout overflows them inside
    // libtiff (found by fuzzing; AddressSanitizer). Reduced-resolution pages (thumbnails,
    // NewSubfileType bit 0) are skipped by ITK and not compared.
    // ITK counts and reads pages by their NewSubfileType in two places that disagree on values
    // other than 0 (image), 1 (reduced) and 2 (page): a heap overflow (fuzzing). Those are the
    // only values accepted, and all full pages must carry the same one.
    const std::vector<uint64_t> subfile = values(254);
    const uint64_t kind = subfile.empty() ? 0 : subfile[0];
    if (kind & ~uint64_t(3)) {
      std::ostringstream os;
      os << "cannot read " << path << ": " << where.str() << " has NewSubfileType " << kind
         << " (useg reads 0, 1 = reduced resolution, 2 = page); the file is corrupt or holds "
            "transparency masks";
      USEG_THROW(os.str());
    }
    if (!(kind & 1)) {
      std::vector<std::vector<uint64_t>> layout{{kind}};
      for (uint16_t tag : {256, 257, 258, 277, 284, 339}) layout.push_back(values(tag));
      if (first_layout.empty()) {
        first_layout = layout;
      } else if (layout != first_layout) {
        std::ostringstream os;
        os << "cannot read " << path << ": " << where.str() << " differs from the first page in "
           << "size or pixel layout (width, height, bits, samples, planar configuration or "
              "sample format); a multi-page TIFF must hold slices of one volume";
        USEG_THROW(os.str());
      }
    }
    std::vector<uint64_t> offsets = values(273), counts = values(279);  // strips
    if (offsets.empty()) offsets = values(324), counts = values(325);   // tiles
    for (size_t k = 0; k < offsets.size() && k < counts.size(); ++k)
      if (offsets[k] > size || counts[k] > size - offsets[k]) {
        std::ostringstream os;
        os << where.str() << " has data up to byte " << offsets[k] + counts[k]
           << ", the file holds " << size << " bytes";
        truncated(path, os.str());
      }
    const unsigned char* next = dir.data() + n * entry;
    ifd = big ? read_raw<uint64_t>(next, swap) : read_raw<uint32_t>(next, swap);
  }
  if (page < pages) {
    std::ostringstream os;
    os << "it holds " << page << " of the " << pages << " pages its reader expects";
    truncated(path, os.str());
  }
}

}  // namespace

void check_not_truncated(const std::string& path, const std::string& ext, int64_t data_bytes,
                         int64_t pages, const MetaFacts* meta) {
  if (ext == ".nii" || ext == ".nii.gz") check_nifti(path, ext == ".nii.gz");
  if (ext == ".mha" || ext == ".mhd") {
    if (!meta) USEG_THROW("internal error: the MetaImage check of " << path << " needs MetaFacts");
    check_meta(path, data_bytes, *meta);
  }
  if (ext == ".tif" || ext == ".tiff") check_tiff(path, pages);
}

}  // namespace useg::io
