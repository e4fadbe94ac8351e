// Sliding-window accumulation, argmax over the channels and the spatial flip, voxel by voxel.
#include "ops/window/ref.h"

namespace useg::ref {

void window_accumulate(const Vec& probs, const Shape& ps, int64_t n, const Vec& weight,
                       const std::array<int64_t, 3>& offset, Vec& accum, const Shape& as,
                       Vec& weight_sum) {
  Shape ws{1, 1, ps[2], ps[3], ps[4]};
  Shape ss{1, 1, as[2], as[3], as[4]};
  for (int64_t i = 0; i < ps[2]; ++i)
    for (int64_t j = 0; j < ps[3]; ++j)
      for (int64_t k = 0; k < ps[4]; ++k) {
        const int64_t z = offset[0] + i, y = offset[1] + j, x = offset[2] + k;
        if (z < 0 || y < 0 || x < 0 || z >= as[2] || y >= as[3] || x >= as[4]) continue;
        const double w = weight[index5(ws, 0, 0, i, j, k)];
        for (int64_t c = 0; c < ps[1]; ++c)
          accum[index5(as, 0, c, z, y, x)] += w * probs[index5(ps, n, c, i, j, k)];
        weight_sum[index5(ss, 0, 0, z, y, x)] += w;
      }
}

Vec argmax_channels(const Vec& x, const Shape& s) {
  Shape ls{s[0], 1, s[2], s[3], s[4]};
  Vec y(ls.numel());
  for (int64_t n = 0; n < s[0]; ++n)
    for (int64_t d = 0; d < s[2]; ++d)
      for (int64_t h = 0; h < s[3]; ++h)
        for (int64_t w = 0; w < s[4]; ++w) {
          int64_t best = 0;
          for (int64_t c = 1; c < s[1]; ++c)
            if (x[index5(s, n, c, d, h, w)] > x[index5(s, n, best, d, h, w)]) best = c;
          y[index5(ls, n, 0, d, h, w)] = static_cast<double>(best);
        }
  return y;
}

Vec flip_spatial(const Vec& x, const Shape& s, int axes) {
  Vec y(x.size());
  for (int64_t n = 0; n < s[0]; ++n)
    for (int64_t c = 0; c < s[1]; ++c)
      for (int64_t d = 0; d < s[2]; ++d)
        for (int64_t h = 0; h < s[3]; ++h)
          for (int64_t w = 0; w < s[4]; ++w) {
            const int64_t sd = axes & 4 ? s[2] - 1 - d : d;
            const int64_t sh = axes & 2 ? s[3] - 1 - h : h;
            const int64_t sw = axes & 1 ? s[4] - 1 - w : w;
            y[index5(s, n, c, d, h, w)] = x[index5(s, n, c, sd, sh, sw)];
          }
  return y;
}

}  // namespace useg::ref
