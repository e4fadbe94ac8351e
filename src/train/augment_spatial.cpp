// Spatial augmentation: patch extraction through a rotation/zoom (trilinear image, nearest
// label), mirroring and 90-degree rotations.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "train/augment.h"
#include "useg/error.h"

namespace useg::training {

namespace {

Mat3 mul(const Mat3& a, const Mat3& b) {
  Mat3 r{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 3; ++k) r[3 * i + j] += a[3 * i + k] * b[3 * k + j];
  return r;
}

void check_sample(const Tensor& image, const Tensor& label, const char* op) {
  const Shape& s = image.shape();
  USEG_REQUIRE(s.rank() == 5 && s.n() == 1 && label.shape().rank() == 5 && label.shape().c() == 1 &&
                   label.shape().d() == s.d() && label.shape().h() == s.h() &&
                   label.shape().w() == s.w(),
               op << ": image " << s.str() << " and label " << label.shape().str()
                  << " must be [1, C, D, H, W] and [1, 1, D, H, W]");
}

void copy_identity(const TrainingCase& c, const std::array<int64_t, 3>& start, Tensor& image,
                   Tensor& label) {
  const Shape& s = image.shape();
  const int64_t C = s.c(), pd = s.d(), ph = s.h(), pw = s.w();
  const int64_t D = c.size[0], H = c.size[1], W = c.size[2];
  const float* src = c.image.data();
  float* dst = image.data();
  float* lab = label.data();
  const bool has_label = !c.label.empty();  // a classification image has none
  for (int64_t z = 0; z < pd; ++z)
    for (int64_t y = 0; y < ph; ++y) {
      int64_t sz = start[0] + z, sy = start[1] + y;
      bool row_in = sz >= 0 && sz < D && sy >= 0 && sy < H;
      for (int64_t x = 0; x < pw; ++x) {
        int64_t sx = start[2] + x;
        bool in = row_in && sx >= 0 && sx < W;
        int64_t o = (z * ph + y) * pw + x;
        int64_t i = (sz * H + sy) * W + sx;
        lab[o] = in && has_label ? static_cast<float>(c.label[static_cast<size_t>(i)]) : 0.f;
        for (int64_t ch = 0; ch < C; ++ch)
          dst[ch * pd * ph * pw + o] = in ? src[ch * D * H * W + i] : 0.f;
      }
    }
}

}  // namespace

Mat3 rotation_zoom(const std::array<double, 3>& angles, double scale) {
  USEG_REQUIRE(scale > 0, "rotation_zoom: scale must be positive, got " << scale);
  double c0 = std::cos(angles[0]), s0 = std::sin(angles[0]);
  double c1 = std::cos(angles[1]), s1 = std::sin(angles[1]);
  double c2 = std::cos(angles[2]), s2 = std::sin(angles[2]);
  Mat3 about_d{1, 0, 0, 0, c0, -s0, 0, s0, c0};  // (y, x) plane
  Mat3 about_h{c1, 0, -s1, 0, 1, 0, s1, 0, c1};  // (z, x) plane
  Mat3 about_w{c2, -s2, 0, s2, c2, 0, 0, 0, 1};  // (z, y) plane
  Mat3 r = mul(about_d, mul(about_h, about_w));
  for (double& v : r) v /= scale;
  return r;
}

void extract_patch(const TrainingCase& c, const std::array<int64_t, 3>& start, const Mat3& a,
                   Tensor& image, Tensor& label, const Tensor* displacement) {
  check_sample(image, label, "extract_patch");
  USEG_REQUIRE(image.shape().c() == c.image.shape().c(),
               "extract_patch: patch has " << image.shape().c() << " channels, case " << c.name
                                           << " has " << c.image.shape().c());
  const float* disp = nullptr;
  if (displacement) {
    const Shape& ds = displacement->shape();
    USEG_REQUIRE(
        ds.rank() == 5 && ds.n() == 1 && ds.c() == 3 && ds.d() == image.shape().d() &&
            ds.h() == image.shape().h() && ds.w() == image.shape().w(),
        "extract_patch: displacement " << ds.str() << " must be [1, 3, D, H, W] of the patch");
    disp = displacement->data();
  }
  if (a == kIdentity3 && !disp) {
    copy_identity(c, start, image, label);
    return;
  }
  const Shape& s = image.shape();
  const int64_t C = s.c(), pd = s.d(), ph = s.h(), pw = s.w(), pv = pd * ph * pw;
  const int64_t D = c.size[0], H = c.size[1], W = c.size[2], vox = D * H * W;
  const double hz = (pd - 1) / 2.0, hy = (ph - 1) / 2.0, hx = (pw - 1) / 2.0;
  const double cz = start[0] + hz, cy = start[1] + hy, cx = start[2] + hx;
  const float* src = c.image.data();
  float* dst = image.data();
  float* lab = label.data();
  const bool has_label = !c.label.empty();  // a classification image has none
  for (int64_t z = 0; z < pd; ++z)
    for (int64_t y = 0; y < ph; ++y)
      for (int64_t x = 0; x < pw; ++x) {
        const double dz = z - hz, dy = y - hy, dx = x - hx;
        const int64_t o = (z * ph + y) * pw + x;
        // The displacement is added before the rotation/zoom, as batchgenerators deforms the
        // coordinate mesh first.
        const double ez = disp ? dz + disp[o] : dz, ey = disp ? dy + disp[pv + o] : dy,
                     ex = disp ? dx + disp[2 * pv + o] : dx;
        const double p[3] = {cz + a[0] * ez + a[1] * ey + a[2] * ex,
                             cy + a[3] * ez + a[4] * ey + a[5] * ex,
                             cx + a[6] * ez + a[7] * ey + a[8] * ex};
        // Label: nearest voxel, background outside.
        int64_t nz = static_cast<int64_t>(std::floor(p[0] + 0.5));
        int64_t ny = static_cast<int64_t>(std::floor(p[1] + 0.5));
        int64_t nx = static_cast<int64_t>(std::floor(p[2] + 0.5));
        bool in = nz >= 0 && nz < D && ny >= 0 && ny < H && nx >= 0 && nx < W;
        lab[o] = in && has_label
                     ? static_cast<float>(c.label[static_cast<size_t>((nz * H + ny) * W + nx)])
                     : 0.f;
        // Image: trilinear; corners outside the volume (or of zero weight) contribute nothing.
        int64_t i0[3];
        double f[3];
        for (int k = 0; k < 3; ++k) {
          double fl = std::floor(p[k]);
          i0[k] = static_cast<int64_t>(fl);
          f[k] = p[k] - fl;
        }
        int64_t idx[8];
        double w[8];
        int n = 0;
        for (int corner = 0; corner < 8; ++corner) {
          int64_t iz = i0[0] + (corner >> 2 & 1), iy = i0[1] + (corner >> 1 & 1),
                  ix = i0[2] + (corner & 1);
          double wt = ((corner >> 2 & 1) ? f[0] : 1 - f[0]) * ((corner >> 1 & 1) ? f[1] : 1 - f[1]) *
                      ((corner & 1) ? f[2] : 1 - f[2]);
          if (wt == 0 || iz < 0 || iz >= D || iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
          idx[n] = (iz * H + iy) * W + ix;
          w[n++] = wt;
        }
        for (int64_t ch = 0; ch < C; ++ch) {
          const float* sc = src + ch * vox;
          double v = 0;
          for (int k = 0; k < n; ++k) v += w[k] * sc[idx[k]];
          dst[ch * pv + o] = static_cast<float>(v);
        }
      }
}

void flip_axis(Tensor& t, int axis) {
  const Shape& s = t.shape();
  USEG_REQUIRE(
      s.rank() == 5 && axis >= 0 && axis < 3,
      "flip_axis: expected a rank-5 tensor and axis 0..2, got " << s.str() << ", " << axis);
  const int64_t planes = s.n() * s.c(), D = s.d(), H = s.h(), W = s.w();
  float* p = t.data();
  for (int64_t q = 0; q < planes; ++q) {
    float* b = p + q * D * H * W;
    if (axis == 2) {
      for (int64_t r = 0; r < D * H; ++r) std::reverse(b + r * W, b + (r + 1) * W);
    } else if (axis == 1) {
      for (int64_t z = 0; z < D; ++z)
        for (int64_t y = 0; y < H / 2; ++y)
          std::swap_ranges(b + (z * H + y) * W, b + (z * H + y + 1) * W,
                           b + (z * H + H - 1 - y) * W);
    } else {
      for (int64_t z = 0; z < D / 2; ++z)
        std::swap_ranges(b + z * H * W, b + (z + 1) * H * W, b + (D - 1 - z) * H * W);
    }
  }
}

void rotate90_hw(Tensor& t, int k) {
  const Shape& s = t.shape();
  k = ((k % 4) + 4) % 4;
  if (k == 0) return;
  USEG_REQUIRE(s.rank() == 5, "rotate90_hw: expected a rank-5 tensor, got " << s.str());
  const int64_t H = s.h(), W = s.w();
  USEG_REQUIRE(k == 2 || H == W,
               "rotate90_hw: a quarter turn needs a square plane, got " << H << "x" << W);
  const int64_t planes = s.n() * s.c() * s.d();
  std::vector<float> tmp(static_cast<size_t>(H * W));
  float* p = t.data();
  for (int64_t q = 0; q < planes; ++q) {
    float* b = p + q * H * W;
    std::memcpy(tmp.data(), b, sizeof(float) * tmp.size());
    for (int64_t i = 0; i < H; ++i)
      for (int64_t j = 0; j < W; ++j) {
        // numpy.rot90(a, k) on (H, W): k=1 out[i][j] = a[j][W-1-i]; k=2 a[H-1-i][W-1-j];
        // k=3 a[H-1-j][i].
        int64_t si = k == 1 ? j : k == 2 ? H - 1 - i : H - 1 - j;
        int64_t sj = k == 1 ? W - 1 - i : k == 2 ? W - 1 - j : i;
        b[i * W + j] = tmp[static_cast<size_t>(si * W + sj)];
      }
  }
}

}  // namespace useg::training
