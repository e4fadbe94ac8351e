// Segmentation losses on logits [N, C, D, H, W] (definitions in include/useg/backend.h), as
// per-voxel terms to reduce and a per-voxel gradient given the reduced sums.
//
//   CE     loss = mean over the V voxels of -log softmax(x)[t]       d/dx_k = (p_k - o_k) / V
//   Dice   for every group g (one sample, or the batch) and foreground class c >= 1:
//            I = sum p_c o_c, P = sum p_c, T = sum o_c, Q = P + T + smooth
//            dice = (2I + smooth) / Q,   loss = 1 - mean over the G (group, class) pairs
//          dloss/dp_c = b - a * o_c with a = 2 / (G Q), b = (2I + smooth) / (G Q^2) (0 for c = 0)
//          and through the softmax: dloss/dx_k = p_k (g_k - sum_c p_c g_c), g_c = dloss/dp_c
//   MSE    loss = mean over the E elements of (x - o)^2              d/dx = 2 (x - o) / E
//   Hinge  loss = mean of max(0, 1 - s x), s = 2 o - 1              d/dx = -s / E where 1 - s x > 0
//   MultiHinge  loss = (1 / E) sum over voxels and k != t of m_k = max(0, 1 - x_t + x_k)
//          (E = V C: PyTorch's MultiMarginLoss, the mean over voxels of the sum / C)
//          d/dx_k = 1 / E where m_k > 0 (k != t), d/dx_t = -(count of m_k > 0) / E
//
// t is the voxel's class, o the one-hot target (or, for MSE and hinge, a dense target value).
// The caller reduces the terms in double, computes the Dice coefficients a, b per (group, class)
// with dice_grad_coefs, then calls the gradient functions per voxel / element.
#pragma once

#include <cmath>
#include <cstdint>

#include "ops/hd.h"
#include "ops/softmax/softmax.h"

namespace useg::ops {

// The class a label value names, or -1 when it is not an integer in [0, channels).
USEG_HD int label_class(float v, int channels) {
  if (!(v >= 0.f && v < float(channels))) return -1;  // also rejects NaN
  const int t = int(v);
  return float(t) == v ? t : -1;
}
USEG_HD float onehot(int t, int c) { return t == c ? 1.f : 0.f; }

// ---- softmax losses (CE, Dice, DiceCE)

// Terms of one voxel of class t. Returns the CE term -log p_t. When dice_acc is given it adds,
// for every foreground class c = 1..C-1, p_c o_c, p_c and o_c to dice_acc[3(c-1) + 0, 1, 2].
USEG_HD float softmax_loss_voxel_terms(const float* x, int channels, int64_t stride, int t,
                                       double* dice_acc) {
  const SoftmaxStats s = softmax_stats(x, channels, stride);
  if (dice_acc) {
    for (int c = 1; c < channels; ++c) {
      const float p = softmax_prob(x[c * stride], s);
      const float o = onehot(t, c);
      double* acc = dice_acc + 3 * (c - 1);
      acc[0] += double(p * o);
      acc[1] += double(p);
      acc[2] += double(o);
    }
  }
  return -log_softmax(x[t * stride], s);
}

USEG_HD double dice_score(double inter, double psum, double tsum, double smooth) {
  return (2.0 * inter + smooth) / (psum + tsum + smooth);
}

// Gradient coefficients of one (group, class) pair; `pairs` is G, the number of pairs averaged.
USEG_HD void dice_grad_coefs(double inter, double psum, double tsum, double smooth, double pairs,
                             float* a, float* b) {
  const double q = psum + tsum + smooth;
  *a = float(2.0 / (pairs * q));
  *b = float((2.0 * inter + smooth) / (pairs * q * q));
}

// dx[k * stride] = weight * d(loss)/d(x_k) at one voxel of class t. ce_coef is 1/V when the loss
// has a CE term, else 0. dice_a/dice_b hold the coefficients of this voxel's group indexed by
// class (entry 0 unused), or are null when there is no Dice term. dx must not alias x.
USEG_HD void softmax_loss_grad_voxel(const float* x, int channels, int64_t stride, int t,
                                     float ce_coef, const float* dice_a, const float* dice_b,
                                     float weight, float* dx) {
  const SoftmaxStats s = softmax_stats(x, channels, stride);
  float dot = 0.f;  // sum_c p_c g_c
  if (dice_a) {
    for (int c = 1; c < channels; ++c)
      dot += softmax_prob(x[c * stride], s) * (dice_b[c] - dice_a[c] * onehot(t, c));
  }
  for (int k = 0; k < channels; ++k) {
    const float p = softmax_prob(x[k * stride], s);
    const float o = onehot(t, k);
    const float g = (dice_a && k > 0) ? dice_b[k] - dice_a[k] * o : 0.f;
    dx[k * stride] = weight * (ce_coef * (p - o) + p * (g - dot));
  }
}

// ---- elementwise losses (MSE, hinge); coef = weight / E

USEG_HD double mse_term(float x, float o) {
  const double d = double(x) - double(o);
  return d * d;
}
USEG_HD float mse_grad(float x, float o, float coef) { return 2.f * coef * (x - o); }

USEG_HD double hinge_term(float x, float o) {
  const double margin = 1.0 - (2.0 * double(o) - 1.0) * double(x);
  return margin > 0.0 ? margin : 0.0;
}
// At the kink (margin exactly 0) the gradient is 0, as PyTorch's relu/clamp backward.
USEG_HD float hinge_grad(float x, float o, float coef) {
  const float s = 2.f * o - 1.f;
  return 1.f - s * x > 0.f ? -s * coef : 0.f;
}

// ---- multi-class hinge: one voxel of class t over C channels `stride` apart; coef = weight / E

USEG_HD double multi_hinge_voxel_term(const float* x, int channels, int64_t stride, int t) {
  const double xt = double(x[t * stride]);
  double sum = 0.0;
  for (int k = 0; k < channels; ++k) {
    const double m = 1.0 - xt + double(x[k * stride]);
    if (k != t && m > 0.0) sum += m;
  }
  return sum;
}
// At the kink (margin exactly 0) the gradient is 0, as for hinge_grad. dx must not alias x.
USEG_HD void multi_hinge_grad_voxel(const float* x, int channels, int64_t stride, int t,
                                    float coef, float* dx) {
  const float xt = x[t * stride];
  float active = 0.f;
  for (int k = 0; k < channels; ++k) {
    const bool on = k != t && 1.f - xt + x[k * stride] > 0.f;
    dx[k * stride] = on ? coef : 0.f;
    active += on ? 1.f : 0.f;
  }
  dx[t * stride] = -coef * active;
}

}  // namespace useg::ops
