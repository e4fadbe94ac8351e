// Policy checks on loaded images that the caller chooses to apply.
#include "io/image_checks.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace useg {

bool has_non_finite(const Image& image) {
  if (!image.voxels.defined()) return false;
  const float* p = image.voxels.data();
  int64_t n = image.voxels.numel();
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(p[i])) return true;
  return false;
}

std::vector<int64_t> count_non_finite(const Image& image) {
  if (!image.voxels.defined()) return {};
  const int channels = image.channels();
  const int64_t per = image.voxels.numel() / std::max(1, channels);
  std::vector<int64_t> out(static_cast<size_t>(channels), 0);
  const float* p = image.voxels.data();
  for (int c = 0; c < channels; ++c)
    for (int64_t i = 0; i < per; ++i) out[size_t(c)] += !std::isfinite(p[c * per + i]);
  return out;
}

int64_t replace_non_finite(Image& image) {
  if (!image.voxels.defined()) return 0;
  const int channels = image.channels();
  const int64_t per = image.voxels.numel() / std::max(1, channels);
  float* p = image.voxels.data();
  int64_t replaced = 0;
  for (int c = 0; c < channels; ++c) {
    float* v = p + c * per;
    float lowest = std::numeric_limits<float>::infinity();
    int64_t bad = 0;
    for (int64_t i = 0; i < per; ++i) {
      if (std::isfinite(v[i]))
        lowest = std::min(lowest, v[i]);
      else
        ++bad;
    }
    if (bad == 0) continue;
    if (!std::isfinite(lowest)) lowest = 0.f;  // no finite voxel at all
    for (int64_t i = 0; i < per; ++i)
      if (!std::isfinite(v[i])) v[i] = lowest;
    replaced += bad;
  }
  return replaced;
}

}  // namespace useg
