// Policy checks on loaded images that the caller chooses to apply.
#include "io/image_checks.h"

#include <cmath>

namespace useg {

bool has_non_finite(const Image& image) {
  if (!image.voxels.defined()) return false;
  const float* p = image.voxels.data();
  int64_t n = image.voxels.numel();
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(p[i])) return true;
  return false;
}

}  // namespace useg
