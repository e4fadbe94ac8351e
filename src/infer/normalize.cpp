// Intensity normalization per channel, exactly as model.json records it (training and
// segmentation run this very code).
#include <algorithm>
#include <cmath>
#include <sstream>

#include "util/stats.h"
#include "useg/error.h"
#include "useg/infer.h"

namespace useg {

namespace {
void zscore(float* p, int64_t n, double mean, double std) {
  float m = static_cast<float>(mean);
  float inv = static_cast<float>(1.0 / std::max(std, 1e-8));
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) p[i] = (p[i] - m) * inv;
}

void clip(float* p, int64_t n, double lo, double hi) {
  float l = static_cast<float>(lo), h = static_cast<float>(hi);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) p[i] = std::min(std::max(p[i], l), h);
}

std::pair<double, double> mean_std(const float* p, int64_t n) {
  double s = 0, s2 = 0;
#pragma omp parallel for reduction(+ : s, s2) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    s += p[i];
    s2 += double(p[i]) * p[i];
  }
  double mean = s / double(std::max<int64_t>(n, 1));
  double var = std::max(0.0, s2 / double(std::max<int64_t>(n, 1)) - mean * mean);
  return {mean, std::sqrt(var)};
}
}  // namespace

void normalize_intensities(Tensor& volume, const PreprocessConfig& pp) {
  const Shape& s = volume.shape();
  USEG_REQUIRE(int64_t(pp.channels.size()) == s.c(),
               "the image has " << s.c() << " channel(s) but the preprocessing describes "
                                << pp.channels.size());
  int64_t vox = s.d() * s.h() * s.w() * s.n();
  for (int64_t c = 0; c < s.c(); ++c) {
    const ChannelNorm& ch = pp.channels[static_cast<size_t>(c)];
    float* p = volume.data() + c * vox;
    switch (ch.scheme) {
      case IntensityScheme::None:
        break;
      case IntensityScheme::ZScore: {
        auto [m, sd] = mean_std(p, vox);
        zscore(p, vox, m, sd);
        break;
      }
      case IntensityScheme::CT:
        clip(p, vox, ch.clip_low, ch.clip_high);
        zscore(p, vox, ch.mean, ch.std);
        break;
      case IntensityScheme::Percentile: {
        std::vector<float> v(p, p + vox);
        double lo = percentile(v, ch.percentile_low);
        double hi = percentile(std::move(v), ch.percentile_high);
        clip(p, vox, lo, hi);
        auto [m, sd] = mean_std(p, vox);
        zscore(p, vox, m, sd);
        break;
      }
    }
  }
}

}  // namespace useg
