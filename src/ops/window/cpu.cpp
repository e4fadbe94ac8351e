// Sliding-window accumulation, argmax and the spatial flip of test-time mirroring on the CPU:
// OpenMP loops over ops/window/window.h and ops/window/flip.h.
#include "ops/window/window.h"

#include "cpu/cpu_backend.h"
#include "ops/window/flip.h"

namespace useg::cpu {

void window_accumulate(BackendImpl& be, const Tensor& probs, int64_t n, const Tensor& weight,
                       const std::array<int64_t, 3>& offset, Tensor& accum, Tensor& weight_sum) {
  const Shape &ps = probs.shape(), &as = accum.shape();

  // The part of the window inside the volume, in window coordinates.
  int64_t b[3], e[3];
  const int64_t patch[3] = {ps.d(), ps.h(), ps.w()}, size[3] = {as.d(), as.h(), as.w()};
  for (int a = 0; a < 3; ++a) ops::window_clip(offset[a], patch[a], size[a], &b[a], &e[a]);
  if (b[0] >= e[0] || b[1] >= e[1] || b[2] >= e[2]) return;

  const int C = int(ps.c());
  const int64_t pstride = ps.spatial(), astride = as.spatial();
  const float* pp = probs.data() + n * C * pstride;
  const float* wp = weight.data();
  float* ap = accum.data();
  float* sp = weight_sum.data();
  const int64_t rows_j = e[1] - b[1];
  const int64_t rows = (e[0] - b[0]) * rows_j;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t i = b[0] + r / rows_j, j = b[1] + r % rows_j;
    for (int64_t k = b[2]; k < e[2]; ++k) {
      const int64_t w_idx = (i * ps.h() + j) * ps.w() + k;
      const int64_t v_idx = ((i + offset[0]) * as.h() + (j + offset[1])) * as.w() + (k + offset[2]);
      ops::window_accumulate_voxel(pp + w_idx, pstride, C, wp[w_idx], ap + v_idx, astride,
                                   sp + v_idx);
    }
  }
}

void argmax_channels(BackendImpl& be, const Tensor& x, Tensor& labels) {
  const Shape& s = x.shape();
  const int64_t S = s.spatial(), C = s.c(), voxels = s.n() * S;
  const float* xp = x.data();
  float* lp = labels.data();
#pragma omp parallel for schedule(static)
  for (int64_t v = 0; v < voxels; ++v)
    lp[v] = float(ops::argmax_voxel(xp + (v / S) * C * S + v % S, int(C), S));
}

void flip_spatial(BackendImpl& be, const Tensor& x, int axes, Tensor& y) {
  const Shape& s = x.shape();
  int64_t d = s.d(), h = s.h(), w = s.w(), n = x.numel();
  const float* px = x.data();
  float* py = y.data();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) py[i] = px[ops::flip_source_index(i, d, h, w, axes)];
}

void add_window_ops(BackendOps& t) {
  t.window_accumulate = window_accumulate;
  t.argmax_channels = argmax_channels;
  t.flip_spatial = flip_spatial;
}

}  // namespace useg::cpu
