// Preprocessing, exactly as model.json records it; the trainer runs this very code.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "useg/error.h"
#include "useg/imaging.h"
#include "useg/infer.h"

namespace useg {

double percentile(std::vector<float> v, double q) {
  USEG_CHECK(!v.empty(), "percentile of an empty set");
  q = std::clamp(q, 0.0, 100.0);
  // Linear interpolation between order statistics (numpy's default).
  double pos = q / 100.0 * double(v.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(pos));
  size_t hi = std::min(lo + 1, v.size() - 1);
  std::nth_element(v.begin(), v.begin() + lo, v.end());
  double a = v[lo];
  double b = a;
  if (hi != lo) b = *std::min_element(v.begin() + lo + 1, v.end());
  return a + (pos - double(lo)) * (b - a);
}

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
  USEG_CHECK(int64_t(pp.channels.size()) == s.c(),
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

NetworkInput preprocess(const Image& image, const ModelInfo& info) {
  const ModelConfig& m = info.model;
  if (image.channels() != m.in_channels) {
    std::ostringstream names;
    for (size_t i = 0; i < info.preprocess.channels.size(); ++i)
      names << (i ? ", " : "") << info.preprocess.channels[i].name;
    USEG_THROW(image.source << ": the case has " << image.channels()
                            << " channel(s), the model expects " << m.in_channels << " ("
                            << names.str() << ")");
  }
  USEG_CHECK(!(m.dims == 3 && image.geometry.dims == 2),
             image.source << ": the model is 3D but the image is 2D");
  NetworkInput in;
  in.volume = image.voxels.clone();
  in.geometry = image.geometry;
  normalize_intensities(in.volume, info.preprocess);

  const auto& t = info.preprocess.target_spacing;
  if (t.empty()) return in;
  std::array<double, 3> target = image.geometry.spacing;  // x, y, z
  if (m.dims == 3) {
    USEG_CHECK(t.size() == 3, "preprocess.target_spacing must have 3 entries for a 3D model");
    target = {t[2], t[1], t[0]};
  } else {
    USEG_CHECK(t.size() == 2, "preprocess.target_spacing must have 2 entries for a 2D model");
    target[0] = t[1];
    target[1] = t[0];
  }
  bool same = true;
  for (int a = 0; a < 3; ++a)
    same = same && std::fabs(target[a] - image.geometry.spacing[a]) <=
                       1e-3 * std::max(1e-6, std::fabs(target[a]));
  if (same) return in;
  Image normalized{image.geometry, in.volume, image.source};
  Image r = resample_to_spacing(normalized, target, Interp::Linear);
  in.volume = r.voxels;
  in.geometry = r.geometry;
  in.resampled = true;
  return in;
}

}  // namespace useg
