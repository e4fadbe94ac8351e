// Files as bytes, for the tests of readers and their guards: write, read back, and a hand-made
// NIfTI-1 header.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace useg::test {

inline void write_bytes(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A NIfTI-1 single-file header, exactly 348 bytes, of float32 voxels of `dim` (dim[0] = rank,
// missing entries 1), spacing 1, vox_offset 352, no qform or sform: the 4 extension bytes and
// the voxels are the caller's.
inline std::string nifti1_header(const std::vector<int16_t>& dim) {
  std::string h(348, '\0');
  auto put_i32 = [&h](int off, int32_t v) { std::memcpy(&h[off], &v, 4); };
  auto put_i16 = [&h](int off, int16_t v) { std::memcpy(&h[off], &v, 2); };
  auto put_f32 = [&h](int off, float v) { std::memcpy(&h[off], &v, 4); };
  put_i32(0, 348);                                    // sizeof_hdr
  for (size_t i = 0; i < 8; ++i) put_i16(40 + 2 * int(i), i < dim.size() ? dim[i] : 1);
  put_i16(70, 16);                                    // datatype: float32
  put_i16(72, 32);                                    // bitpix
  for (int i = 0; i < 8; ++i) put_f32(76 + 4 * i, 1.0f);  // pixdim
  put_f32(108, 352.0f);                               // vox_offset
  put_f32(112, 1.0f);                                 // scl_slope
  std::memcpy(&h[344], "n+1\0", 4);                   // magic
  return h;
}

}  // namespace useg::test
