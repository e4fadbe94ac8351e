// Softmax over the channels of one voxel. A voxel's C channel values are `stride` apart (the
// D*H*W of an NCDHW tensor). The statistics (max, 1/sum, log sum) are computed once; each
// probability is then exp(x_c - max) / sum, so losses can recompute probabilities on the fly
// without a scratch buffer of C floats.
#pragma once

#include <cmath>
#include <cstdint>

#include "ops/hd.h"

namespace useg::ops {

struct SoftmaxStats {
  float max;      // max_c x_c
  float inv_sum;  // 1 / sum_c exp(x_c - max)
  float log_sum;  // log sum_c exp(x_c - max)
};

USEG_HD SoftmaxStats softmax_stats(const float* x, int channels, int64_t stride) {
  float m = x[0];
  for (int c = 1; c < channels; ++c) m = fmaxf(m, x[c * stride]);
  float sum = 0.f;  // each term is in (0, 1], at least one is 1
  for (int c = 0; c < channels; ++c) sum += expf(x[c * stride] - m);
  SoftmaxStats s;
  s.max = m;
  s.inv_sum = 1.f / sum;
  s.log_sum = logf(sum);
  return s;
}

USEG_HD float softmax_prob(float xc, const SoftmaxStats& s) { return expf(xc - s.max) * s.inv_sum; }

// log softmax(x)_c, accurate even when the probability underflows.
USEG_HD float log_softmax(float xc, const SoftmaxStats& s) { return (xc - s.max) - s.log_sum; }

// y = softmax(x) over the channels of one voxel; y may alias x.
USEG_HD void softmax_voxel(const float* x, float* y, int channels, int64_t stride) {
  const SoftmaxStats s = softmax_stats(x, channels, stride);
  for (int c = 0; c < channels; ++c) y[c * stride] = softmax_prob(x[c * stride], s);
}

}  // namespace useg::ops
