// Reference losses, straight from the definitions in backend.h, in double.
#include <algorithm>
#include <cmath>

#include "ops/loss/ref.h"
#include "ops/softmax/ref.h"

namespace useg::ref {
namespace {

double cross_entropy(const Vec& p, const Shape& s, const Vec& labels) {
  const int64_t N = s[0], C = s[1], S = s[2] * s[3] * s[4];
  double sum = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t v = 0; v < S; ++v) {
      const int64_t t = static_cast<int64_t>(labels[n * S + v]);
      sum += -std::log(p[(n * C + t) * S + v]);
    }
  return sum / static_cast<double>(N * S);
}

// 1 - mean over (group, foreground class) of (2 I + smooth) / (P + T + smooth).
double dice(const Vec& p, const Shape& s, const Vec& labels, double smooth, bool batch_dice) {
  const int64_t N = s[0], C = s[1], S = s[2] * s[3] * s[4];
  const int64_t groups = batch_dice ? 1 : N;
  double total = 0;
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t c = 1; c < C; ++c) {
      double inter = 0, psum = 0, tsum = 0;
      for (int64_t n = 0; n < N; ++n) {
        if (!batch_dice && n != g) continue;
        for (int64_t v = 0; v < S; ++v) {
          const double prob = p[(n * C + c) * S + v];
          const double onehot = static_cast<int64_t>(labels[n * S + v]) == c ? 1.0 : 0.0;
          inter += prob * onehot;
          psum += prob;
          tsum += onehot;
        }
      }
      total += (2 * inter + smooth) / (psum + tsum + smooth);
    }
  return 1 - total / static_cast<double>(groups * (C - 1));
}

}  // namespace

double loss(const LossSpec& spec, const Vec& logits, const Shape& s, const Vec& target,
            const Shape& target_shape) {
  const int64_t N = s[0], C = s[1], S = s[2] * s[3] * s[4];
  double value = 0;
  if (spec.kind == LossKind::MultiHinge) {  // PyTorch's MultiMarginLoss, averaged over voxels
    double sum = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t v = 0; v < S; ++v) {
        const int64_t t = static_cast<int64_t>(target[n * S + v]);
        for (int64_t k = 0; k < C; ++k)
          if (k != t)
            sum += std::max(0.0, 1 - logits[(n * C + t) * S + v] + logits[(n * C + k) * S + v]) /
                   static_cast<double>(C);
      }
    return spec.weight * sum / static_cast<double>(N * S);
  }
  if (spec.kind == LossKind::MSE || spec.kind == LossKind::Hinge) {
    const bool dense = target_shape == s;
    double sum = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t v = 0; v < S; ++v) {
          const int64_t i = (n * C + c) * S + v;
          const double o =
              dense ? target[i] : (static_cast<int64_t>(target[n * S + v]) == c ? 1.0 : 0.0);
          if (spec.kind == LossKind::MSE)
            sum += (logits[i] - o) * (logits[i] - o);
          else
            sum += std::max(0.0, 1 - (2 * o - 1) * logits[i]);
        }
    value = sum / static_cast<double>(N * C * S);
  } else {
    const Vec p = softmax_channels(logits, s);
    if (spec.kind != LossKind::Dice) value += cross_entropy(p, s, target);
    if (spec.kind != LossKind::CrossEntropy)
      value += dice(p, s, target, spec.dice_smooth, spec.batch_dice);
  }
  return spec.weight * value;
}

}  // namespace useg::ref
