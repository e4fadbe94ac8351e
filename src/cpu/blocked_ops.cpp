// Instance norm + residual + activation, and channel concatenation, on the channel-blocked layout
// (see blocked_ops.h). Both are memory-bound, so each touches every value as few times as it
// can: the norm reads y once for its statistics and once more to write the result. The
// arithmetic is the norm op's and the activation op's (ops::norm_*, ops::leaky_relu_*), so the
// plan and the per-op path state one formula.
#include "cpu/blocked_ops.h"
#include "cpu/parallel.h"

#include <omp.h>

#include <algorithm>
#include <vector>

#include "ops/activation/activation.h"
#include "ops/elementwise/elementwise.h"
#include "ops/norm/norm.h"
#include "useg/error.h"

namespace useg::cpu {
namespace {

// Per-channel statistics of y [C, S] blocked: one read of y, with ops::norm_shifted around each
// channel's first value. Work items are (channel block, chunk of positions) so that a few wide
// channel blocks still spread over every thread. Sums are taken in float over runs of 256
// positions (B independent lanes vectorize) and in double across runs and chunks. mean and
// invstd get the float statistics of every lane (C rounded up to whole blocks; padding lanes
// are zero).
template <int B>
void channel_stats(const float* y, int64_t C, int64_t S, float eps, std::vector<float>& mean,
                   std::vector<float>& invstd) {
  const int64_t nb = (C + B - 1) / B;
  const int threads = omp_get_max_threads();
  const int64_t chunks =
      std::max<int64_t>(1, std::min<int64_t>((S + 4095) / 4096, (4 * threads + nb - 1) / nb));
  const int64_t chunk_len = (S + chunks - 1) / chunks;
  std::vector<float> shift(nb * B);
  for (int64_t cb = 0; cb < nb; ++cb)
    for (int l = 0; l < B; ++l) shift[cb * B + l] = y[cb * S * B + l];
  std::vector<double> part(nb * chunks * 2 * B, 0.0);
#pragma omp parallel for collapse(2) schedule(static) if (nb * S * B >= kParallelMin)
  for (int64_t cb = 0; cb < nb; ++cb)
    for (int64_t k = 0; k < chunks; ++k) {
      const float* p = y + cb * S * B;
      const float* sh = &shift[cb * B];
      double* out = &part[(cb * chunks + k) * 2 * B];
      const int64_t s0 = k * chunk_len, s1 = std::min(S, s0 + chunk_len);
      for (int64_t i = s0; i < s1; i += 256) {
        float f1[B] = {}, f2[B] = {};
        const int64_t e = std::min(s1, i + 256);
        for (int64_t s = i; s < e; ++s) {
#pragma omp simd
          for (int l = 0; l < B; ++l) {
            const float d = ops::norm_shifted(p[s * B + l], sh[l]);
            f1[l] += d;
            f2[l] += d * d;
          }
        }
        for (int l = 0; l < B; ++l) {
          out[l] += f1[l];
          out[B + l] += f2[l];
        }
      }
    }
  mean.assign(nb * B, 0.f);
  invstd.assign(nb * B, 0.f);
  for (int64_t c = 0; c < C; ++c) {
    const int64_t cb = c / B, l = c % B;
    double s1 = 0, s2 = 0;
    for (int64_t k = 0; k < chunks; ++k) {
      s1 += part[(cb * chunks + k) * 2 * B + l];
      s2 += part[(cb * chunks + k) * 2 * B + B + l];
    }
    mean[c] = float(ops::norm_shifted_mean(s1, double(S), shift[c]));
    invstd[c] = ops::norm_invstd(ops::norm_shifted_var(s1, s2, double(S)), eps);
  }
}

// z = norm(y) (+ residual), then the activation, in place, with the norm op's terms: per channel
// a = ops::norm_scale(invstd, gamma) and b = ops::norm_offset(mean, a, beta), per value
// ops::axpy_element(a, y, b) (one multiply-add: this pass is memory-bound, and a form with a
// subtraction and a third parameter array measured ~18% slower), then ops::add_element of the
// residual and ops::leaky_relu_forward_unit_slope (leaky ReLU with the spec's slope in [0, 1],
// which covers ReLU and the identity). The padding lanes get a = b = 0, so they stay zero.
template <int B>
void finish(float* y, int64_t C, int64_t S, const FinishSpec& f, const float* res) {
  const int64_t nb = (C + B - 1) / B;
  std::vector<float> a(nb * B, 0.f), b(nb * B, 0.f);
  if (f.instance_norm) {
    std::vector<float> mean, invstd;
    channel_stats<B>(y, C, S, f.eps, mean, invstd);
    for (int64_t c = 0; c < C; ++c) {
      a[c] = ops::norm_scale(invstd[c], f.gamma ? f.gamma[c] : 1.f);
      b[c] = ops::norm_offset(mean[c], a[c], f.beta ? f.beta[c] : 0.f);
    }
  } else {
    std::fill(a.begin(), a.begin() + C, 1.f);  // the identity
  }
  const float slope = f.slope;
  constexpr int64_t kRun = 1024;
  const int64_t runs = (S + kRun - 1) / kRun;
#pragma omp parallel for collapse(2) schedule(static) if (nb * S * B >= kParallelMin)
  for (int64_t cb = 0; cb < nb; ++cb)
    for (int64_t r = 0; r < runs; ++r) {
      const float* ab = &a[cb * B];
      const float* bb = &b[cb * B];
      float* p = y + (cb * S + r * kRun) * B;
      const float* q = res ? res + (cb * S + r * kRun) * B : nullptr;
      const int64_t n = std::min(kRun, S - r * kRun);
      for (int64_t s = 0; s < n; ++s) {
        if (q) {
#pragma omp simd
          for (int l = 0; l < B; ++l) {
            const float z =
                ops::add_element(ops::axpy_element(ab[l], p[s * B + l], bb[l]), q[s * B + l]);
            p[s * B + l] = ops::leaky_relu_forward_unit_slope(z, slope);
          }
        } else {
#pragma omp simd
          for (int l = 0; l < B; ++l) {
            const float z = ops::axpy_element(ab[l], p[s * B + l], bb[l]);
            p[s * B + l] = ops::leaky_relu_forward_unit_slope(z, slope);
          }
        }
      }
    }
}

}  // namespace

void blocked_finish(float* y, int64_t channels, int64_t spatial, int block,
                    const FinishSpec& spec, const float* residual) {
  USEG_CHECK(spec.slope >= 0.f && spec.slope <= 1.f,
             "blocked_finish: activation slope must be in [0, 1], got " << spec.slope);
  if (block == 8)
    finish<8>(y, channels, spatial, spec, residual);
  else if (block == 16)
    finish<16>(y, channels, spatial, spec, residual);
  else
    USEG_THROW("blocked_finish: channel block " << block << " is not 8 or 16");
}

void blocked_concat(const float* a, int64_t ca, const float* b, int64_t cb, float* cat,
                    int64_t spatial, int block) {
  const int64_t B = block, S = spatial;
  const int64_t nb = (ca + cb + B - 1) / B;
#pragma omp parallel for schedule(static) if (nb * S * B >= kParallelMin)
  for (int64_t k = 0; k < nb; ++k)
    for (int64_t s = 0; s < S; ++s)
      for (int64_t l = 0; l < B; ++l) {
        const int64_t c = k * B + l;
        float v = 0.f;
        if (c < ca)
          v = a[((c / B) * S + s) * B + c % B];
        else if (c < ca + cb)
          v = b[(((c - ca) / B) * S + s) * B + (c - ca) % B];
        cat[(k * S + s) * B + l] = v;
      }
}

void blocked_pixel_shuffle(const float* u, int64_t channels, const int64_t in_dhw[3],
                           const int kernel[3], float* out, int block) {
  const int64_t B = block, nb = channels / B;
  USEG_CHECK(channels % B == 0, "blocked_pixel_shuffle: " << channels
                                     << " channels are not a multiple of the block " << B);
  const int64_t D = in_dhw[0], H = in_dhw[1], W = in_dhw[2];
  const int kd = kernel[0], kh = kernel[1], kw = kernel[2];
  const int64_t OD = D * kd, OH = H * kh, OW = W * kw;
  const int64_t S = D * H * W, OS = OD * OH * OW;
  // One work item per (channel block, output row): its writes are one contiguous run.
#pragma omp parallel for collapse(2) schedule(static) if (nb * OS * B >= kParallelMin)
  for (int64_t cb = 0; cb < nb; ++cb)
    for (int64_t row = 0; row < OD * OH; ++row) {
      const int64_t oz = row / OH, oy = row % OH;
      const int64_t z = oz / kd, y = oy / kh;
      const int a = int(oz % kd), b = int(oy % kh);
      float* dst = out + (cb * OS + row * OW) * B;
      for (int64_t x = 0; x < W; ++x)
        for (int e = 0; e < kw; ++e) {
          const int64_t k = (int64_t(a) * kh + b) * kw + e;
          const float* src = u + ((k * nb + cb) * S + (z * H + y) * W + x) * B;
          float* d = dst + (x * kw + e) * B;
#pragma omp simd
          for (int64_t l = 0; l < B; ++l) d[l] = src[l];
        }
    }
}

}  // namespace useg::cpu
