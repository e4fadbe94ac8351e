// Losses on the CPU: per-sample double reductions of the per-voxel terms of ops/loss/loss.h
// (cpu/reduce.h, so the value does not depend on the thread count), then the per-voxel gradient.
#include "ops/loss/loss.h"
#include "ops/loss/dice_term.h"

#include <cstdint>
#include <limits>
#include <vector>

#include "core/op_checks.h"
#include "cpu/cpu_backend.h"
#include "cpu/reduce.h"
#include "useg/error.h"

namespace useg::cpu {
namespace {

constexpr const char* kOp = "loss_forward_backward";

// Throws naming the first voxel whose label is not a class index in 0..C-1.
void check_labels(const Tensor& target, int64_t channels) {
  const float* t = target.data();
  const int64_t n = target.numel();
  int64_t first_bad = std::numeric_limits<int64_t>::max();
#pragma omp parallel for schedule(static) reduction(min : first_bad)
  for (int64_t i = 0; i < n; ++i)
    if (ops::label_class(t[i], int(channels)) < 0 && i < first_bad) first_bad = i;
  if (first_bad == std::numeric_limits<int64_t>::max()) return;
  const Shape& s = target.shape();
  int64_t i = first_bad;
  const int64_t x = i % s.w(), y = (i /= s.w()) % s.h(), z = (i /= s.h()) % s.d();
  const int64_t nn = i / s.d();
  USEG_THROW(kOp << ": target value " << t[first_bad] << " at [" << nn << ", 0, " << z << ", " << y
                 << ", " << x << "] of " << s.str() << " is not a class index in 0.."
                 << channels - 1 << " (the logits have " << channels << " channels)");
}

// CE, Dice and DiceCE: the softmax-based losses.
double softmax_loss(const LossSpec& spec, const Tensor& logits, const Tensor& target,
                    Tensor* dlogits) {
  const Shape& s = logits.shape();
  const int64_t N = s.n(), C = s.c(), S = s.spatial();
  const bool has_ce = spec.kind != LossKind::Dice;
  const bool has_dice = spec.kind != LossKind::CrossEntropy;
  USEG_CHECK(!has_dice || C >= 2, kOp << " (" << loss_name(spec.kind) << "): logits " << s.str()
                                      << " need at least 2 channels (background + a foreground"
                                         " class) for a Dice term");
  const float* x = logits.data();
  const float* t = target.data();

  // Per sample: [CE sum, then (I, P, T) for each foreground class].
  const int k = 1 + (has_dice ? 3 * int(C - 1) : 0);
  std::vector<double> sums(N * k);
  reduce_rows(N, 1, S, k, sums.data(), [&](int64_t n, int64_t, int64_t b, int64_t e, double* acc) {
    const float* xn = x + n * C * S;
    const float* tn = t + n * S;
    double ce = 0.0;
    for (int64_t v = b; v < e; ++v)
      ce += ops::softmax_loss_voxel_terms(xn + v, int(C), S, ops::label_class(tn[v], int(C)),
                                          has_dice ? acc + 1 : nullptr);
    acc[0] = ce;
  });

  const double voxels = double(N) * double(S);
  double loss = 0.0;
  if (has_ce) {
    double ce = 0.0;
    for (int64_t n = 0; n < N; ++n) ce += sums[n * k];
    loss += ce / voxels;
  }
  // Dice groups: one per sample, or one for the whole batch; coefficients indexed [g * C + c].
  const int64_t groups = spec.batch_dice ? 1 : N;
  std::vector<float> dice_a(groups * C, 0.f), dice_b(groups * C, 0.f);
  if (has_dice) loss += ops::dice_term(spec, sums, N, int(C), k, dice_a.data(), dice_b.data());

  if (dlogits) {
    const float ce_coef = has_ce ? float(1.0 / voxels) : 0.f;
    const float weight = spec.weight;
    float* dx = dlogits->data();
    const int64_t total = N * S;
#pragma omp parallel for schedule(static)
    for (int64_t v = 0; v < total; ++v) {
      const int64_t n = v / S, base = n * C * S + v % S, g = spec.batch_dice ? 0 : n;
      ops::softmax_loss_grad_voxel(x + base, int(C), S, ops::label_class(t[v], int(C)), ce_coef,
                                   has_dice ? &dice_a[g * C] : nullptr,
                                   has_dice ? &dice_b[g * C] : nullptr, weight, dx + base);
    }
  }
  return double(spec.weight) * loss;
}

// MSE and hinge: elementwise against the one-hot of a label map, or a dense target; the
// multi-class hinge: per voxel over its channels (label map), normalized by the elements too.
double elementwise_loss(const LossSpec& spec, const Tensor& logits, const Tensor& target,
                        bool dense, Tensor* dlogits) {
  const Shape& s = logits.shape();
  const int64_t N = s.n(), C = s.c(), S = s.spatial();
  const bool mse = spec.kind == LossKind::MSE;
  const bool multi = spec.kind == LossKind::MultiHinge;
  const float* x = logits.data();
  const float* t = target.data();
  // Target value of element (n, c, v): dense, or one-hot of the voxel's label.
  auto target_at = [=](int64_t n, int64_t c, int64_t v) {
    return dense ? t[(n * C + c) * S + v]
                 : ops::onehot(ops::label_class(t[n * S + v], int(C)), int(c));
  };

  std::vector<double> sums(N);
  reduce_rows(N, 1, S, 1, sums.data(), [&](int64_t n, int64_t, int64_t b, int64_t e, double* acc) {
    double sum = 0.0;
    if (multi) {
      for (int64_t v = b; v < e; ++v)
        sum += ops::multi_hinge_voxel_term(x + n * C * S + v, int(C), S,
                                           ops::label_class(t[n * S + v], int(C)));
      acc[0] = sum;
      return;
    }
    for (int64_t v = b; v < e; ++v)
      for (int64_t c = 0; c < C; ++c) {
        const float xv = x[(n * C + c) * S + v], o = target_at(n, c, v);
        sum += mse ? ops::mse_term(xv, o) : ops::hinge_term(xv, o);
      }
    acc[0] = sum;
  });
  double total = 0.0;
  for (int64_t n = 0; n < N; ++n) total += sums[n];
  const double elements = double(logits.numel());

  if (dlogits) {
    const float coef = float(double(spec.weight) / elements);
    float* dx = dlogits->data();
    const int64_t voxels = N * S;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < voxels; ++i) {
      const int64_t n = i / S, v = i % S;
      if (multi) {
        ops::multi_hinge_grad_voxel(x + n * C * S + v, int(C), S,
                                    ops::label_class(t[n * S + v], int(C)), coef,
                                    dx + n * C * S + v);
        continue;
      }
      for (int64_t c = 0; c < C; ++c) {
        const int64_t e = (n * C + c) * S + v;
        const float o = target_at(n, c, v);
        dx[e] = mse ? ops::mse_grad(x[e], o, coef) : ops::hinge_grad(x[e], o, coef);
      }
    }
  }
  return double(spec.weight) * (total / elements);
}

}  // namespace

double loss_forward_backward(BackendImpl& be, const LossSpec& spec, const Tensor& logits,
                             const Tensor& target, Tensor* dlogits) {
  const LossTarget kind = loss_target(spec, logits, target);
  if (!kind.dense) check_labels(target, logits.shape().c());
  return kind.elementwise ? elementwise_loss(spec, logits, target, kind.dense, dlogits)
                          : softmax_loss(spec, logits, target, dlogits);
}

void add_loss_ops(BackendOps& t) {
  t.loss_forward_backward = loss_forward_backward;
}

}  // namespace useg::cpu
