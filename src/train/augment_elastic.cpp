// Elastic deformation fields and low-resolution simulation (nnU-Net / batchgenerators' recipes;
// docs/training.md, "Augmentation").
#include <algorithm>
#include <cmath>
#include <vector>

#include "train/augment.h"
#include "useg/error.h"

namespace useg::training {

namespace {

// Convolves every line of `p` (a D x H x W block) along `axis` with a Gaussian of `sigma`
// voxels, radius ceil(4 sigma) (scipy's truncate = 4), zero outside (scipy's mode "constant").
void gaussian_zero_padded(float* p, const std::array<int64_t, 3>& size, int axis, double sigma) {
  const int64_t len = size[size_t(axis)];
  if (len <= 1) return;
  const int64_t r = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(4 * sigma)));
  std::vector<double> k(static_cast<size_t>(2 * r + 1));
  double sum = 0;
  for (int64_t i = -r; i <= r; ++i)
    sum += k[size_t(i + r)] = std::exp(-0.5 * double(i * i) / (sigma * sigma));
  for (double& v : k) v /= sum;
  const int64_t stride = axis == 2 ? 1 : axis == 1 ? size[2] : size[1] * size[2];
  std::vector<double> line(static_cast<size_t>(len));
  for (int64_t z = 0; z < (axis == 0 ? 1 : size[0]); ++z)
    for (int64_t y = 0; y < (axis == 1 ? 1 : size[1]); ++y)
      for (int64_t x = 0; x < (axis == 2 ? 1 : size[2]); ++x) {
        float* b = p + (z * size[1] + y) * size[2] + x;
        for (int64_t i = 0; i < len; ++i) line[size_t(i)] = b[i * stride];
        for (int64_t i = 0; i < len; ++i) {
          double acc = 0;
          const int64_t lo = std::max<int64_t>(0, i - r), hi = std::min<int64_t>(len - 1, i + r);
          for (int64_t j = lo; j <= hi; ++j) acc += k[size_t(j - i + r)] * line[size_t(j)];
          b[i * stride] = static_cast<float>(acc);
        }
      }
}

}  // namespace

Tensor elastic_displacement(const std::array<int64_t, 3>& patch, int dims, double alpha,
                            double sigma, Rng& rng) {
  USEG_REQUIRE(
      alpha >= 0 && sigma > 0,
      "elastic_displacement: alpha must be >= 0 and sigma > 0, got " << alpha << ", " << sigma);
  const int64_t n = patch[0] * patch[1] * patch[2];
  Tensor field = Tensor::zeros(Shape{1, 3, patch[0], patch[1], patch[2]});
  float* f = field.data();
  for (int comp = dims == 3 ? 0 : 1; comp < 3; ++comp) {
    float* c = f + comp * n;
    for (int64_t i = 0; i < n; ++i) c[i] = static_cast<float>(rng.uniform(-1.0, 1.0));
    for (int axis = dims == 3 ? 0 : 1; axis < 3; ++axis) gaussian_zero_padded(c, patch, axis, sigma);
    for (int64_t i = 0; i < n; ++i) c[i] = static_cast<float>(c[i] * alpha);
  }
  return field;
}

void simulate_low_resolution(Tensor& image, int channel, const std::array<double, 3>& zoom) {
  const Shape& s = image.shape();
  USEG_REQUIRE(s.rank() == 5 && s.n() == 1 && channel >= 0 && channel < s.c(),
               "simulate_low_resolution: expected [1, C, D, H, W] and a "
               "channel below C, got "
                   << s.str() << ", " << channel);
  const std::array<int64_t, 3> size{s.d(), s.h(), s.w()};
  float* p = image.data() + channel * size[0] * size[1] * size[2];
  for (int axis = 0; axis < 3; ++axis) {
    const int64_t len = size[size_t(axis)];
    const double z = zoom[size_t(axis)];
    USEG_REQUIRE(z > 0 && z <= 1, "simulate_low_resolution: zoom must be in (0, 1], got " << z);
    // Python's round(), as nnU-Net v2 computes the size: halves go to the even neighbour
    // (17 x 0.5 -> 8), which std::nearbyint does in the default rounding mode.
    const int64_t low =
        std::max<int64_t>(1, static_cast<int64_t>(std::nearbyint(double(len) * z)));
    if (len <= 1 || low == len) continue;
    const int64_t stride = axis == 2 ? 1 : axis == 1 ? size[2] : size[1] * size[2];
    std::vector<float> coarse(static_cast<size_t>(low), 0.f);
    for (int64_t zz = 0; zz < (axis == 0 ? 1 : size[0]); ++zz)
      for (int64_t y = 0; y < (axis == 1 ? 1 : size[1]); ++y)
        for (int64_t x = 0; x < (axis == 2 ? 1 : size[2]); ++x) {
          float* b = p + (zz * size[1] + y) * size[2] + x;
          // Down: the nearest input voxel to each coarse voxel's centre (order 0, no smoothing).
          for (int64_t i = 0; i < low; ++i) {
            int64_t src = static_cast<int64_t>(std::floor((double(i) + 0.5) * double(len) / double(low)));
            coarse[size_t(i)] = b[std::min(src, len - 1) * stride];
          }
          // Up: linear between coarse voxel centres, edges held.
          for (int64_t j = 0; j < len; ++j) {
            double u = (double(j) + 0.5) * double(low) / double(len) - 0.5;
            u = std::clamp(u, 0.0, double(low - 1));
            int64_t i0 = static_cast<int64_t>(std::floor(u));
            int64_t i1 = std::min(i0 + 1, low - 1);
            double f = u - double(i0);
            b[j * stride] = static_cast<float>((1 - f) * coarse[size_t(i0)] + f * coarse[size_t(i1)]);
          }
        }
  }
}

}  // namespace useg::training
