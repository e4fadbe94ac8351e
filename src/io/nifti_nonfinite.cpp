// Non-finite voxels of floating-point NIfTI files. ITK's bundled niftilib (nifti_read_buffer)
// silently replaces every NaN and +-Inf of a float32/float64 file by 0 while reading, so the
// caller could never see them (and a NaN would pass for a real 0 intensity). This reads the raw
// voxel data of such a file a second time and puts the non-finite values back. The second read
// happens only when the image ITK returned holds the value niftilib's 0 becomes (0, or
// scl_inter when the file is rescaled): a file without it cannot have held a non-finite voxel.
#include <itk_zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <vector>

#include "io/io_common.h"

namespace useg::io {

namespace {

struct FloatLayout {
  int bytes = 0;           // 4 (float32) or 8 (float64); 0 = not a float file
  bool swap = false;
  int64_t voxels = 1;
  int64_t vox_offset = 0;
  double slope = 0, inter = 0;
};

bool parse(const unsigned char* h, size_t n, FloatLayout* out) {
  if (n < 348) return false;
  int32_t size = read_raw<int32_t>(h, false);
  bool swap = false;
  if (size != 348 && size != 540) {
    swap = true;
    size = read_raw<int32_t>(h, true);
  }
  int datatype = 0;
  if (size == 348) {
    int ndim = read_raw<int16_t>(h + 40, swap);
    if (ndim < 1 || ndim > 7) return false;
    for (int i = 1; i <= ndim; ++i) out->voxels *= std::max<int64_t>(1, read_raw<int16_t>(h + 40 + 2 * i, swap));
    datatype = read_raw<int16_t>(h + 70, swap);
    float off = read_raw<float>(h + 108, swap);
    if (!std::isfinite(off) || off < 0 || off > 1e12f) return false;
    out->vox_offset = std::max<int64_t>(348, static_cast<int64_t>(off));
    out->slope = read_raw<float>(h + 112, swap);
    out->inter = read_raw<float>(h + 116, swap);
  } else if (size == 540 && n >= 540) {
    int64_t ndim = read_raw<int64_t>(h + 16, swap);
    if (ndim < 1 || ndim > 7) return false;
    for (int i = 1; i <= ndim; ++i) {
      int64_t d = read_raw<int64_t>(h + 16 + 8 * i, swap);
      if (d <= 0 || d > (int64_t(1) << 40)) return false;
      if (__builtin_mul_overflow(out->voxels, d, &out->voxels)) return false;
    }
    datatype = read_raw<int16_t>(h + 12, swap);
    out->vox_offset = std::max<int64_t>(540, read_raw<int64_t>(h + 168, swap));
    out->slope = read_raw<double>(h + 176, swap);
    out->inter = read_raw<double>(h + 184, swap);
  } else {
    return false;
  }
  out->swap = swap;
  out->bytes = datatype == 16 ? 4 : datatype == 64 ? 8 : 0;
  return out->bytes != 0;
}

// ITK's NiftiImageIO rescales when the slope is non-zero and not the identity.
float zero_after_rescale(const FloatLayout& l) {
  const double eps = 1e-12;
  bool rescale = std::isfinite(l.slope) && std::fabs(l.slope) > eps &&
                 (std::fabs(l.slope - 1) > eps || std::fabs(l.inter) > eps);
  return rescale ? static_cast<float>(l.inter) : 0.f;
}

// Reads `n` bytes from the start of the voxel data through `read(buf, n)`, patching `dst`.
template <typename Read>
void patch(const FloatLayout& l, float* dst, Read&& read) {
  std::vector<unsigned char> buf(size_t(1) << 20);
  const size_t per_chunk = buf.size() / size_t(l.bytes);
  for (int64_t i = 0; i < l.voxels;) {
    size_t want = static_cast<size_t>(std::min<int64_t>(int64_t(per_chunk), l.voxels - i));
    if (!read(buf.data(), want * size_t(l.bytes))) return;  // short: the truncation check reports it
    for (size_t k = 0; k < want; ++k) {
      const unsigned char* p = buf.data() + k * size_t(l.bytes);
      double v = l.bytes == 4 ? double(read_raw<float>(p, l.swap)) : read_raw<double>(p, l.swap);
      if (!std::isfinite(v)) dst[i + int64_t(k)] = static_cast<float>(v);
    }
    i += int64_t(want);
  }
}

}  // namespace

void restore_nifti_non_finite(const std::string& path, bool gz, float* voxels, int64_t count) {
  unsigned char h[540];
  size_t got = 0;
  FloatLayout l;
  if (!gz) {
    std::ifstream in(path, std::ios::binary);
    in.read(reinterpret_cast<char*>(h), sizeof h);
    got = static_cast<size_t>(in.gcount());
    if (!parse(h, got, &l) || l.voxels != count) return;
    const float zero = zero_after_rescale(l);
    if (std::find(voxels, voxels + count, zero) == voxels + count) return;
    in.clear();
    in.seekg(static_cast<std::streamoff>(l.vox_offset));
    patch(l, voxels, [&](unsigned char* b, size_t n) {
      return static_cast<bool>(in.read(reinterpret_cast<char*>(b), static_cast<std::streamsize>(n)));
    });
    return;
  }
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) return;
  int n = gzread(f, h, sizeof h);
  got = n > 0 ? size_t(n) : 0;
  if (!parse(h, got, &l) || l.voxels != count ||
      std::find(voxels, voxels + count, zero_after_rescale(l)) == voxels + count) {
    gzclose(f);
    return;
  }
  if (gzseek(f, static_cast<z_off_t>(l.vox_offset), SEEK_SET) < 0) {
    gzclose(f);
    return;
  }
  patch(l, voxels, [&](unsigned char* b, size_t want) {
    return gzread(f, b, static_cast<unsigned>(want)) == static_cast<int>(want);
  });
  gzclose(f);
}

}  // namespace useg::io
