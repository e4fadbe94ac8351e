// Optimizer updates of one parameter element, with torch.optim semantics.
//
// SGD (dampening 0):  g = grad + wd * p
//                     buf = momentum * buf + g          (a zero buffer gives torch's first step,
//                                                        where torch sets buf = g)
//                     g = nesterov ? g + momentum * buf : buf      (when momentum != 0)
//                     p = p - lr * g
// Adam / AdamW:       g = grad + wd * p                 (Adam)
//                     p = p * (1 - lr * wd)             (AdamW, decoupled)
//                     m = lerp(m, g, 1 - beta1)          v = beta2 * v + (1 - beta2) * g^2
//                     p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// The per-step scalars are computed once, in double, by adam_coefs (as torch does in Python).
#pragma once

#include <cmath>
#include <cstdint>

#include "ops/hd.h"

namespace useg::ops {

struct SgdCoefs {
  float lr;
  float momentum;  // 0 disables the buffer
  float weight_decay;
  bool nesterov;
};

// buf may be null when momentum == 0.
USEG_HD void sgd_update_element(float* p, float grad, float* buf, const SgdCoefs& k) {
  float g = grad;
  if (k.weight_decay != 0.f) g += k.weight_decay * *p;
  if (k.momentum != 0.f) {
    const float b = k.momentum * *buf + g;
    *buf = b;
    g = k.nesterov ? g + k.momentum * b : b;
  }
  *p -= k.lr * g;
}

struct AdamCoefs {
  float beta1;
  float beta2;
  float eps;
  float weight_decay;  // Adam's L2 term (0 when decoupled)
  float decay_factor;  // AdamW's 1 - lr * wd (1 when not decoupled)
  float step_size;     // lr / (1 - beta1^t)
  float bias2_sqrt;    // sqrt(1 - beta2^t)
};

USEG_HD AdamCoefs adam_coefs(float lr, float beta1, float beta2, float eps, float weight_decay,
                             bool decoupled, int64_t step) {
  AdamCoefs k;
  k.beta1 = beta1;
  k.beta2 = beta2;
  k.eps = eps;
  k.weight_decay = decoupled ? 0.f : weight_decay;
  k.decay_factor = decoupled ? float(1.0 - double(lr) * double(weight_decay)) : 1.f;
  const double t = double(step);
  k.step_size = float(double(lr) / (1.0 - pow(double(beta1), t)));
  k.bias2_sqrt = float(sqrt(1.0 - pow(double(beta2), t)));
  return k;
}

// torch.lerp for floats: start + w (end - start), computed from the nearer end.
USEG_HD float lerp_torch(float start, float end, float w) {
  return w < 0.5f ? start + w * (end - start) : end - (end - start) * (1.f - w);
}

USEG_HD void adam_update_element(float* p, float grad, float* m, float* v, const AdamCoefs& k) {
  float g = grad;
  if (k.weight_decay != 0.f) g += k.weight_decay * *p;
  if (k.decay_factor != 1.f) *p *= k.decay_factor;
  const float mn = lerp_torch(*m, g, 1.f - k.beta1);
  const float vn = k.beta2 * *v + (1.f - k.beta2) * g * g;
  *m = mn;
  *v = vn;
  const float denom = sqrtf(vn) / k.bias2_sqrt + k.eps;
  *p -= k.step_size * (mn / denom);
}

}  // namespace useg::ops
