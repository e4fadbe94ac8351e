// Naive references of SGD and Adam/AdamW: torch.optim's update rules in double (ref.cpp).
#pragma once

#include "ops/ref_util.h"
#include "useg/backend.h"

namespace useg::ref {

// One torch.optim step, unrolled by hand.
struct SgdState {
  Vec momentum_buffer;  // empty until the first step, as torch's state
};
void sgd_step(Vec& param, const Vec& grad, SgdState& state, double lr, double momentum,
              bool nesterov, double weight_decay);
struct AdamState {
  Vec exp_avg, exp_avg_sq;  // zero-initialised on the first step
  int64_t step = 0;
};
void adam_step(Vec& param, const Vec& grad, AdamState& state, double lr, double beta1, double beta2,
               double eps, double weight_decay, bool decoupled);

}  // namespace useg::ref
