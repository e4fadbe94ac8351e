// Intensity augmentation on one sample's image [1, C, D, H, W] (labels are never touched).
// Statistics are accumulated in double so results do not depend on the summation order anywhere
// but here, single-threaded.
#include <algorithm>
#include <cmath>
#include <vector>

#include "train/augment.h"
#include "useg/error.h"

namespace useg::training {

namespace {

struct ChannelStats {
  double mean = 0, std = 0;
  float min = 0, max = 0;
};

ChannelStats stats(const float* p, int64_t n) {
  ChannelStats s;
  double sum = 0, sq = 0;
  s.min = s.max = p[0];
  for (int64_t i = 0; i < n; ++i) {
    sum += p[i];
    sq += double(p[i]) * p[i];
    s.min = std::min(s.min, p[i]);
    s.max = std::max(s.max, p[i]);
  }
  s.mean = sum / double(n);
  s.std = std::sqrt(std::max(0.0, sq / double(n) - s.mean * s.mean));
  return s;
}

void check_image(const Tensor& t, const char* op) {
  USEG_REQUIRE(t.defined() && t.shape().rank() == 5 && t.device() == Device::CPU,
               op << ": expected a CPU tensor [N, C, D, H, W], got " << t.shape().str());
}

// 1D Gaussian kernel of radius ceil(3 sigma), normalized to sum 1.
std::vector<double> gaussian_kernel(double sigma) {
  int r = std::max(1, static_cast<int>(std::ceil(3 * sigma)));
  std::vector<double> k(static_cast<size_t>(2 * r + 1));
  double sum = 0;
  for (int i = -r; i <= r; ++i) sum += k[static_cast<size_t>(i + r)] = std::exp(-0.5 * i * i / (sigma * sigma));
  for (double& v : k) v /= sum;
  return k;
}

// Convolves every line of `p` (a D x H x W block) along `axis` with `k`, replicating the edges.
void blur_axis(float* p, const std::array<int64_t, 3>& size, int axis, const std::vector<double>& k) {
  const int64_t len = size[axis];
  const int64_t stride = axis == 2 ? 1 : axis == 1 ? size[2] : size[1] * size[2];
  const int64_t lines = size[0] * size[1] * size[2] / len;
  const int64_t r = static_cast<int64_t>(k.size() / 2);
  std::vector<float> line(static_cast<size_t>(len));
  for (int64_t l = 0; l < lines; ++l) {
    // The first element of line l: enumerate the other two axes.
    int64_t base;
    if (axis == 2) base = l * len;
    else if (axis == 1) base = (l / size[2]) * size[1] * size[2] + l % size[2];
    else base = l;
    for (int64_t i = 0; i < len; ++i) line[static_cast<size_t>(i)] = p[base + i * stride];
    for (int64_t i = 0; i < len; ++i) {
      double v = 0;
      for (int64_t j = -r; j <= r; ++j) {
        int64_t q = std::clamp<int64_t>(i + j, 0, len - 1);
        v += k[static_cast<size_t>(j + r)] * line[static_cast<size_t>(q)];
      }
      p[base + i * stride] = static_cast<float>(v);
    }
  }
}

}  // namespace

void add_gaussian_noise(Tensor& image, double std, Rng& rng) {
  check_image(image, "add_gaussian_noise");
  float* p = image.data();
  for (int64_t i = 0; i < image.numel(); ++i) p[i] += static_cast<float>(std * rng.normal());
}

void gaussian_blur(Tensor& image, double sigma) {
  check_image(image, "gaussian_blur");
  if (!(sigma > 0)) return;
  const Shape& s = image.shape();
  std::array<int64_t, 3> size{s.d(), s.h(), s.w()};
  std::vector<double> k = gaussian_kernel(sigma);
  for (int64_t q = 0; q < s.n() * s.c(); ++q) {
    float* p = image.data() + q * s.spatial();
    for (int axis = 0; axis < 3; ++axis)
      if (size[axis] > 1) blur_axis(p, size, axis, k);
  }
}

void scale_brightness(Tensor& image, double factor) {
  check_image(image, "scale_brightness");
  float f = static_cast<float>(factor);
  float* p = image.data();
  for (int64_t i = 0; i < image.numel(); ++i) p[i] *= f;
}

void adjust_contrast(Tensor& image, double factor) {
  check_image(image, "adjust_contrast");
  const Shape& s = image.shape();
  const int64_t n = s.spatial();
  for (int64_t q = 0; q < s.n() * s.c(); ++q) {
    float* p = image.data() + q * n;
    ChannelStats st = stats(p, n);
    for (int64_t i = 0; i < n; ++i) {
      double v = (p[i] - st.mean) * factor + st.mean;
      p[i] = std::clamp(static_cast<float>(v), st.min, st.max);
    }
  }
}

void adjust_gamma(Tensor& image, double gamma) {
  check_image(image, "adjust_gamma");
  const Shape& s = image.shape();
  const int64_t n = s.spatial();
  const double eps = 1e-7;
  for (int64_t q = 0; q < s.n() * s.c(); ++q) {
    float* p = image.data() + q * n;
    ChannelStats before = stats(p, n);
    double range = double(before.max) - before.min + eps;
    for (int64_t i = 0; i < n; ++i)
      p[i] = static_cast<float>(std::pow((p[i] - before.min) / range, gamma) * range + before.min);
    ChannelStats after = stats(p, n);
    double scale = before.std / (after.std + 1e-8);
    for (int64_t i = 0; i < n; ++i)
      p[i] = static_cast<float>((p[i] - after.mean) * scale + before.mean);
  }
}

}  // namespace useg::training
