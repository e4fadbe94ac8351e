// Instance norm and batch norm on the CPU: deterministic double reductions (cpu/reduce.h)
// followed by OpenMP loops over the per-element math of ops/norm/norm.h.
#include "ops/norm/norm.h"

#include <algorithm>
#include <vector>

#include "core/op_checks.h"
#include "cpu/cpu_backend.h"
#include "cpu/parallel.h"
#include "cpu/reduce.h"
#include "useg/error.h"

namespace useg::cpu {
namespace {


// Where the values of each statistics group live in an NCDHW tensor: group r is made of
// `segments` runs of `len` contiguous values, run j starting at r * row_stride + j * seg_stride.
//   instance norm: groups (n, c), one run of D*H*W values at ((n * C + c) * S)
//   batch norm:    groups c, N runs at ((n * C + c) * S)
struct Groups {
  int64_t rows, segments, len, row_stride, seg_stride;
  int64_t offset(int64_t r, int64_t seg) const { return r * row_stride + seg * seg_stride; }
  double count() const { return double(segments) * double(len); }
};

Groups instance_groups(const Shape& s) { return {s.n() * s.c(), 1, s.spatial(), s.spatial(), 0}; }
Groups batch_groups(const Shape& s) {
  return {s.c(), s.n(), s.spatial(), s.spatial(), s.c() * s.spatial()};
}

// Two-pass statistics per group: mean, then the sum of squared deviations around it.
void group_stats(const float* x, const Groups& g, std::vector<double>& mean,
                 std::vector<double>& sq_dev) {
  std::vector<double> sum(g.rows);
  reduce_rows(g.rows, g.segments, g.len, 1, sum.data(),
              [&](int64_t r, int64_t seg, int64_t b, int64_t e, double* acc) {
                const float* p = x + g.offset(r, seg);
                lane_sums<1>(b, e, acc, [p](int64_t i, double* t) { t[0] = p[i]; });
              });
  mean.resize(g.rows);
  for (int64_t r = 0; r < g.rows; ++r) mean[r] = ops::norm_mean(sum[r], g.count());
  sq_dev.resize(g.rows);
  reduce_rows(g.rows, g.segments, g.len, 1, sq_dev.data(),
              [&](int64_t r, int64_t seg, int64_t b, int64_t e, double* acc) {
                const float* p = x + g.offset(r, seg);
                const double m = mean[r];
                lane_sums<1>(b, e, acc,
                             [p, m](int64_t i, double* t) { t[0] = ops::norm_sq_dev(p[i], m); });
              });
}

// y = norm_forward_apply over every (n, c) row; the statistics are indexed per (n, c) when
// per_sample (instance norm) and per c otherwise (batch norm).
void apply_forward(const Shape& s, const float* x, float* y, const float* mean, const float* invstd,
                   bool per_sample, const Tensor* gamma, const Tensor* beta) {
  const int64_t C = s.c(), S = s.spatial(), rows = s.n() * C;
  const float* gp = gamma ? gamma->data() : nullptr;
  const float* bp = beta ? beta->data() : nullptr;
#pragma omp parallel for schedule(static) if (rows * S >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t c = r % C, k = per_sample ? r : c;
    const float m = mean[k], is = invstd[k];
    const float ga = gp ? gp[c] : 1.f, be = bp ? bp[c] : 0.f;
    const float* xr = x + r * S;
    float* yr = y + r * S;
    for (int64_t i = 0; i < S; ++i) yr[i] = ops::norm_forward_apply(xr[i], m, is, ga, be);
  }
}

// Shared backward of both norms: reduce sum(dy), sum(dy * xhat) per group, then apply.
void norm_backward(const Shape& s, const Groups& g, bool per_sample, const float* x,
                   const float* dy, const float* gamma, const float* mean, const float* invstd,
                   float* dx, float* dgamma, float* dbeta) {
  std::vector<double> sums(g.rows * 2);
  reduce_rows(g.rows, g.segments, g.len, 2, sums.data(),
              [&](int64_t r, int64_t seg, int64_t b, int64_t e, double* acc) {
                const int64_t off = g.offset(r, seg);
                const float* xp = x + off;
                const float* dp = dy + off;
                const float m = mean[r], is = invstd[r];
                lane_sums<2>(b, e, acc, [=](int64_t i, double* t) {
                  t[0] = dp[i];
                  t[1] = double(dp[i]) * double(ops::norm_xhat(xp[i], m, is));
                });
              });
  const int64_t C = s.c(), S = s.spatial(), rows = s.n() * C;
  std::vector<float> mean_dy(g.rows), mean_dy_xhat(g.rows);
  for (int64_t r = 0; r < g.rows; ++r) {
    mean_dy[r] = float(sums[2 * r] / g.count());
    mean_dy_xhat[r] = float(sums[2 * r + 1] / g.count());
  }
#pragma omp parallel for schedule(static) if (rows * S >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t c = r % C, k = per_sample ? r : c;
    const float ga = gamma ? gamma[c] : 1.f;
    const float* xr = x + r * S;
    const float* dr = dy + r * S;
    float* out = dx + r * S;
    for (int64_t i = 0; i < S; ++i)
      out[i] = ops::norm_backward_apply(xr[i], dr[i], mean[k], invstd[k], ga, mean_dy[k],
                                        mean_dy_xhat[k]);
  }
  // dbeta[c] = sum dy, dgamma[c] = sum dy * xhat over every group of channel c, n in order.
  for (int64_t c = 0; c < C; ++c) {
    double sd = 0.0, sdx = 0.0;
    for (int64_t r = c; r < g.rows; r += per_sample ? C : g.rows) {
      sd += sums[2 * r];
      sdx += sums[2 * r + 1];
    }
    if (dbeta) dbeta[c] = float(sd);
    if (dgamma) dgamma[c] = float(sdx);
  }
}

}  // namespace

void instance_norm_forward(BackendImpl& be, const Tensor& x, const Tensor* gamma,
                           const Tensor* beta, float eps, Tensor& y, Tensor* save_mean,
                           Tensor* save_invstd) {
  const Shape& s = x.shape();
  const int64_t groups = s.n() * s.c();

  const Groups g = instance_groups(s);
  std::vector<double> mean, sq_dev;
  group_stats(x.data(), g, mean, sq_dev);
  std::vector<float> mean_f(groups), invstd_f(groups);
  for (int64_t r = 0; r < groups; ++r) {
    mean_f[r] = float(mean[r]);
    invstd_f[r] = ops::norm_invstd(ops::norm_biased_var(sq_dev[r], g.count()), eps);
  }
  apply_forward(s, x.data(), y.data(), mean_f.data(), invstd_f.data(), true, gamma, beta);
  if (save_mean) std::copy(mean_f.begin(), mean_f.end(), save_mean->data());
  if (save_invstd) std::copy(invstd_f.begin(), invstd_f.end(), save_invstd->data());
}

void instance_norm_backward(BackendImpl& be, const Tensor& x, const Tensor& dy, const Tensor* gamma,
                            const Tensor& save_mean, const Tensor& save_invstd, Tensor& dx,
                            Tensor* dgamma, Tensor* dbeta) {
  norm_backward(x.shape(), instance_groups(x.shape()), true, x.data(), dy.data(),
                gamma ? gamma->data() : nullptr, save_mean.data(), save_invstd.data(), dx.data(),
                dgamma ? dgamma->data() : nullptr, dbeta ? dbeta->data() : nullptr);
}

void batch_norm_forward_training(BackendImpl& be, const Tensor& x, const Tensor* gamma,
                                 const Tensor* beta, float eps, float momentum,
                                 Tensor& running_mean, Tensor& running_var, Tensor& y,
                                 Tensor& save_mean, Tensor& save_invstd) {
  const Shape& s = x.shape();
  const Groups g = batch_groups(s);
  std::vector<double> mean, sq_dev;
  group_stats(x.data(), g, mean, sq_dev);
  float* sm = save_mean.data();
  float* si = save_invstd.data();
  float* rm = running_mean.data();
  float* rv = running_var.data();
  for (int64_t c = 0; c < s.c(); ++c) {
    sm[c] = float(mean[c]);
    si[c] = ops::norm_invstd(ops::norm_biased_var(sq_dev[c], g.count()), eps);
    rm[c] = ops::norm_running_update(rm[c], mean[c], momentum);
    rv[c] = ops::norm_running_update(rv[c], ops::norm_unbiased_var(sq_dev[c], g.count()), momentum);
  }
  apply_forward(s, x.data(), y.data(), sm, si, false, gamma, beta);
}

void batch_norm_forward_inference(BackendImpl& be, const Tensor& x, const Tensor* gamma,
                                  const Tensor* beta, const Tensor& running_mean,
                                  const Tensor& running_var, float eps, Tensor& y) {
  const int64_t C = x.shape().c();
  std::vector<float> invstd(C);
  for (int64_t c = 0; c < C; ++c) invstd[c] = ops::norm_invstd(running_var.data()[c], eps);
  apply_forward(x.shape(), x.data(), y.data(), running_mean.data(), invstd.data(), false, gamma,
                beta);
}

void batch_norm_backward(BackendImpl& be, const Tensor& x, const Tensor& dy, const Tensor* gamma,
                         const Tensor& save_mean, const Tensor& save_invstd, Tensor& dx,
                         Tensor* dgamma, Tensor* dbeta) {
  norm_backward(x.shape(), batch_groups(x.shape()), false, x.data(), dy.data(),
                gamma ? gamma->data() : nullptr, save_mean.data(), save_invstd.data(), dx.data(),
                dgamma ? dgamma->data() : nullptr, dbeta ? dbeta->data() : nullptr);
}

void add_norm_ops(BackendOps& t) {
  t.instance_norm_forward = instance_norm_forward;
  t.instance_norm_backward = instance_norm_backward;
  t.batch_norm_forward_training = batch_norm_forward_training;
  t.batch_norm_forward_inference = batch_norm_forward_inference;
  t.batch_norm_backward = batch_norm_backward;
}

}  // namespace useg::cpu
