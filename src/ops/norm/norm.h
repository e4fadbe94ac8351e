// Instance and batch normalization, written as "reduce, then apply" so that a GPU can do the
// reductions with block reductions and call the same apply functions per element.
//
// A group is the set of values one statistic is taken over: one (n, c) for instance norm (the
// D*H*W voxels), one channel c for batch norm (N*D*H*W values). For a group of `count` values:
//
//   forward   pass 1: sum x                       -> mean = sum / count
//             pass 2: sum norm_sq_dev(x, mean)    -> invstd = 1 / sqrt(var + eps) (biased var)
//             apply:  y = (x - mean) * invstd * gamma + beta
//   backward  pass 1: sum dy, sum dy * xhat       (xhat = (x - mean) * invstd)
//             apply:  dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat))
//             dbeta = sum dy, dgamma = sum dy * xhat (summed over n as well for instance norm)
//
// The two-pass variance (sum of squared deviations around the mean) avoids the cancellation of
// E[x^2] - E[x]^2 when |mean| >> std. Sums are kept in double.
#pragma once

#include <cmath>
#include <cstdint>

#include "ops/hd.h"

namespace useg::ops {

// ---- reduction terms
USEG_HD double norm_sq_dev(float x, double mean) {
  const double d = double(x) - mean;
  return d * d;
}
USEG_HD float norm_xhat(float x, float mean, float invstd) { return (x - mean) * invstd; }

// ---- statistics from the reduced sums
USEG_HD double norm_mean(double sum, double count) { return sum / count; }
USEG_HD double norm_biased_var(double sq_dev_sum, double count) { return sq_dev_sum / count; }
// Batch norm's running_var uses the unbiased estimate (count > 1 is checked by the caller).
USEG_HD double norm_unbiased_var(double sq_dev_sum, double count) {
  return sq_dev_sum / (count - 1.0);
}
USEG_HD float norm_invstd(double var, float eps) { return float(1.0 / sqrt(var + double(eps))); }

// PyTorch's running statistics: running = (1 - momentum) * running + momentum * batch_stat.
USEG_HD float norm_running_update(float running, double batch_stat, float momentum) {
  return float((1.0 - double(momentum)) * double(running) + double(momentum) * batch_stat);
}

// ---- one-read statistics: the CPU inference plan's instance norm on the channel-blocked layout
// (src/cpu/blocked_ops.cpp) reads a group once for its statistics instead of twice. It sums
// d = norm_shifted(x, shift) and d * d around a shift near the mean (the group's first value),
// so that a large mean does not cancel the variance as E[x^2] - E[x]^2 would; the result is as
// exact as the two passes above unless |mean - shift| >> std.
USEG_HD float norm_shifted(float x, float shift) { return x - shift; }
USEG_HD double norm_shifted_mean(double sum_d, double count, float shift) {
  return double(shift) + sum_d / count;
}
USEG_HD double norm_shifted_var(double sum_d, double sum_d2, double count) {
  const double m = sum_d / count;
  const double var = sum_d2 / count - m * m;
  return var > 0.0 ? var : 0.0;  // rounding may leave a tiny negative
}

// ---- per-element apply
// y = (x - mean) * scale + beta with the channel's scale = invstd * gamma; gamma = 1 and beta = 0
// when the norm has no affine parameters.
USEG_HD float norm_scale(float invstd, float gamma) { return invstd * gamma; }
USEG_HD float norm_forward_apply(float x, float mean, float invstd, float gamma, float beta) {
  return (x - mean) * norm_scale(invstd, gamma) + beta;
}
// The same map as one multiply-add per element, y = scale * x + offset (ops::axpy_element),
// for a fused pass over many values of a channel (the CPU plan's blocked norm): the offset
// beta - mean * scale is formed once, in double. It rounds once more than norm_forward_apply, an
// error of ~|mean * scale| float ulps: negligible unless |mean| >> std.
USEG_HD float norm_offset(float mean, float scale, float beta) {
  return float(double(beta) - double(mean) * double(scale));
}

// mean_dy = sum(dy) / count, mean_dy_xhat = sum(dy * xhat) / count over the group.
USEG_HD float norm_backward_apply(float x, float dy, float mean, float invstd, float gamma,
                                  float mean_dy, float mean_dy_xhat) {
  const float xhat = (x - mean) * invstd;
  return (gamma * invstd) * (dy - mean_dy - xhat * mean_dy_xhat);
}

}  // namespace useg::ops
