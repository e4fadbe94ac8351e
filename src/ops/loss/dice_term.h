// The Dice part of the softmax losses on the host, from the per-sample sums the backends reduce
// (cpu.cpp, cuda.cpp): the groups (one per sample, or the whole batch with batch_dice), the
// batch's sums summed over the ranks of a data-parallel run (LossSpec::reduce_dice_sums), the
// score and the gradient coefficients of ops/loss/loss.h.
#pragma once

#include <cstdint>
#include <vector>

#include "ops/loss/loss.h"
#include "useg/backend.h"
#include "useg/error.h"

namespace useg::ops {

// sums: per sample, k doubles: [CE, then (I, P, T) per foreground class]. Fills dice_a / dice_b
// [groups * C] (entry 0 of each group unused) and returns the Dice term of the loss, 1 - the mean
// score over (group, foreground class).
inline double dice_term(const LossSpec& spec, const std::vector<double>& sums, int64_t N, int C,
                        int k, float* dice_a, float* dice_b) {
  USEG_CHECK(!spec.reduce_dice_sums || spec.batch_dice,
             "loss: reduce_dice_sums is for batch_dice (one Dice over the global batch)");
  USEG_CHECK(spec.dice_share > 0 && spec.dice_share <= 1,
             "loss: dice_share " << spec.dice_share << " is not a share of the batch in (0, 1]");
  const int64_t groups = spec.batch_dice ? 1 : N;
  const double pairs = double(groups) * double(C - 1), smooth = spec.dice_smooth;
  std::vector<double> ipt(size_t(3 * (C - 1)));
  double dice_sum = 0.0;
  for (int64_t g = 0; g < groups; ++g) {
    for (int c = 1; c < C; ++c)
      for (int j = 0; j < 3; ++j) {
        double s = 0.0;
        for (int64_t n = spec.batch_dice ? 0 : g; n < (spec.batch_dice ? N : g + 1); ++n)
          s += sums[size_t(n * k + 1 + 3 * (c - 1) + j)];
        ipt[size_t(3 * (c - 1) + j)] = s;
      }
    if (spec.reduce_dice_sums) spec.reduce_dice_sums(ipt.data(), ipt.size());
    for (int c = 1; c < C; ++c) {
      const double* v = ipt.data() + 3 * (c - 1);
      dice_sum += dice_score(v[0], v[1], v[2], smooth);
      dice_grad_coefs(v[0], v[1], v[2], smooth, pairs * spec.dice_share, &dice_a[g * C + c],
                      &dice_b[g * C + c]);
    }
  }
  return 1.0 - dice_sum / pairs;
}

}  // namespace useg::ops
