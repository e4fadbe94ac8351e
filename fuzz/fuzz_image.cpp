// libFuzzer target: the image-loading wrapper (header guard + ITK read). The first byte picks
// the file type, the rest is written to a file with that extension and read back through
// read_image_info and read_image with small limits, as `useg segment` would.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "useg/error.h"
#include "useg/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // Detached headers (.mhd, .nhdr) name their data file in the header: missing, or the header
  // file itself, or a device — all must end in an error, not a crash or a hang.
  static const char* exts[] = {".nii", ".nii.gz", ".nrrd", ".mha", ".tif", ".png", ".mhd", ".nhdr"};
  const char* ext = exts[data[0] % 8];
  static std::string dir = [] {
    char tmpl[] = "/tmp/useg_fuzz_image_XXXXXX";
    return std::string(mkdtemp(tmpl));
  }();
  std::string path = dir + "/input" + ext;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data + 1, 1, size - 1, f);
  std::fclose(f);
  useg::ReadLimits limits;
  limits.max_voxels = int64_t(1) << 22;  // 4 Mi voxels
  limits.max_bytes = int64_t(64) << 20;  // 64 MiB
  try {
    useg::read_image_info(path);
    useg::read_image(path, limits);
  } catch (const useg::Error&) {
  }
  std::remove(path.c_str());
  return 0;
}
