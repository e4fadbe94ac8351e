// Learning-rate schedules, per optimizer step. With I = iterations_per_epoch, global step s
// (0-based), W = warmup_epochs * I warm-up steps and T = epochs * I - W decay steps:
//   warm-up (s < W):  lr * (s + 1) / W                     (linear, reaching lr at step W - 1)
//   then u = (s - W) / T in [0, 1):
//     poly      lr * (1 - u)^poly_exponent                 (nnU-Net's, per step instead of epoch)
//     cosine    lr * (1 + cos(pi * u)) / 2
//     constant  lr
#include <algorithm>
#include <cmath>

#include "useg/error.h"
#include "useg/train.h"

namespace useg {

double scheduled_lr(const TrainConfig& t, int64_t step) {
  const int64_t iters = t.iterations_per_epoch;
  const int64_t warmup = int64_t(t.warmup_epochs) * iters;
  const int64_t total = int64_t(t.epochs) * iters;
  USEG_REQUIRE(step >= 0, "scheduled_lr: negative step " << step);
  if (step < warmup) return t.lr * double(step + 1) / double(warmup);
  const int64_t decay = total - warmup;
  double u = decay > 0 ? double(step - warmup) / double(decay) : 0.0;
  u = std::min(std::max(u, 0.0), 1.0);
  if (t.schedule == "poly") return t.lr * std::pow(1.0 - u, t.poly_exponent);
  if (t.schedule == "cosine") return t.lr * 0.5 * (1.0 + std::cos(3.14159265358979323846 * u));
  if (t.schedule == "constant") return t.lr;
  USEG_THROW("train.schedule '" << t.schedule << "' is not one of poly, cosine, constant");
}

}  // namespace useg
