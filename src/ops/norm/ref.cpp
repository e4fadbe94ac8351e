// Reference instance and batch normalization: textbook formulas in double.
#include <cmath>
#include <limits>

#include "ops/norm/ref.h"

namespace useg::ref {
namespace {

// The statistics group of element (n, c): (n, c) for instance norm, c for batch norm.
int64_t group_of(const Shape& s, bool per_sample, int64_t n, int64_t c) {
  return per_sample ? n * s[1] + c : c;
}
int64_t group_count(const Shape& s, bool per_sample) { return per_sample ? s[0] * s[1] : s[1]; }
int64_t group_size(const Shape& s, bool per_sample) {
  return (per_sample ? 1 : s[0]) * s[2] * s[3] * s[4];
}

// Calls f(flat index, group, channel) for every element.
template <class F>
void for_each(const Shape& s, bool per_sample, F f) {
  const int64_t spatial = s[2] * s[3] * s[4];
  for (int64_t n = 0; n < s[0]; ++n)
    for (int64_t c = 0; c < s[1]; ++c)
      for (int64_t v = 0; v < spatial; ++v)
        f((n * s[1] + c) * spatial + v, group_of(s, per_sample, n, c), c);
}

NormForward norm_forward(const Vec& x, const Shape& s, bool per_sample, const Vec* gamma,
                         const Vec* beta, double eps) {
  const int64_t groups = group_count(s, per_sample);
  const double m = static_cast<double>(group_size(s, per_sample));
  NormForward f;
  f.mean.assign(groups, 0.0);
  f.var.assign(groups, 0.0);
  f.var_unbiased.assign(groups, 0.0);
  for_each(s, per_sample, [&](int64_t i, int64_t g, int64_t) { f.mean[g] += x[i] / m; });
  Vec ss(groups, 0.0);
  for_each(s, per_sample, [&](int64_t i, int64_t g, int64_t) {
    ss[g] += (x[i] - f.mean[g]) * (x[i] - f.mean[g]);
  });
  for (int64_t g = 0; g < groups; ++g) {
    f.var[g] = ss[g] / m;
    f.var_unbiased[g] = m > 1 ? ss[g] / (m - 1) : std::numeric_limits<double>::quiet_NaN();
  }
  f.y.assign(x.size(), 0.0);
  for_each(s, per_sample, [&](int64_t i, int64_t g, int64_t c) {
    const double xhat = (x[i] - f.mean[g]) / std::sqrt(f.var[g] + eps);
    f.y[i] = xhat * (gamma ? (*gamma)[c] : 1.0) + (beta ? (*beta)[c] : 0.0);
  });
  return f;
}

NormBackward norm_backward(const Vec& x, const Shape& s, bool per_sample, const Vec& dy,
                           const Vec* gamma, double eps) {
  const NormForward f = norm_forward(x, s, per_sample, nullptr, nullptr, eps);
  const int64_t groups = group_count(s, per_sample);
  const double m = static_cast<double>(group_size(s, per_sample));
  auto gam = [&](int64_t c) { return gamma ? (*gamma)[c] : 1.0; };
  // dxhat = dy * gamma
  // dvar  = sum dxhat * (x - mu) * -1/2 (var + eps)^(-3/2)
  // dmu   = sum dxhat * -1/sqrt(var + eps) + dvar * sum -2 (x - mu) / m
  // dx    = dxhat / sqrt(var + eps) + dvar * 2 (x - mu) / m + dmu / m
  Vec dvar(groups, 0.0), dmu(groups, 0.0), sum_dev(groups, 0.0);
  for_each(s, per_sample, [&](int64_t i, int64_t g, int64_t c) {
    const double dxhat = dy[i] * gam(c);
    dvar[g] += dxhat * (x[i] - f.mean[g]) * -0.5 * std::pow(f.var[g] + eps, -1.5);
    sum_dev[g] += -2.0 * (x[i] - f.mean[g]);
  });
  for_each(s, per_sample, [&](int64_t i, int64_t g, int64_t c) {
    dmu[g] += dy[i] * gam(c) * -1.0 / std::sqrt(f.var[g] + eps);
  });
  for (int64_t g = 0; g < groups; ++g) dmu[g] += dvar[g] * sum_dev[g] / m;
  NormBackward b;
  b.dx.assign(x.size(), 0.0);
  b.dgamma.assign(s[1], 0.0);
  b.dbeta.assign(s[1], 0.0);
  for_each(s, per_sample, [&](int64_t i, int64_t g, int64_t c) {
    const double sd = std::sqrt(f.var[g] + eps);
    b.dx[i] = dy[i] * gam(c) / sd + dvar[g] * 2.0 * (x[i] - f.mean[g]) / m + dmu[g] / m;
    b.dgamma[c] += dy[i] * (x[i] - f.mean[g]) / sd;
    b.dbeta[c] += dy[i];
  });
  return b;
}

}  // namespace

NormForward instance_norm(const Vec& x, const Shape& s, const Vec* gamma, const Vec* beta,
                          double eps) {
  return norm_forward(x, s, true, gamma, beta, eps);
}

NormForward batch_norm_training(const Vec& x, const Shape& s, const Vec* gamma, const Vec* beta,
                                double eps) {
  return norm_forward(x, s, false, gamma, beta, eps);
}

Vec batch_norm_inference(const Vec& x, const Shape& s, const Vec* gamma, const Vec* beta,
                         const Vec& running_mean, const Vec& running_var, double eps) {
  Vec y(x.size());
  for_each(s, false, [&](int64_t i, int64_t, int64_t c) {
    y[i] =
        (x[i] - running_mean[c]) / std::sqrt(running_var[c] + eps) * (gamma ? (*gamma)[c] : 1.0) +
        (beta ? (*beta)[c] : 0.0);
  });
  return y;
}

void batch_norm_update_running(const NormForward& f, double momentum, Vec& running_mean,
                               Vec& running_var) {
  for (size_t c = 0; c < running_mean.size(); ++c) {
    running_mean[c] = (1 - momentum) * running_mean[c] + momentum * f.mean[c];
    running_var[c] = (1 - momentum) * running_var[c] + momentum * f.var_unbiased[c];
  }
}

NormBackward instance_norm_backward(const Vec& x, const Shape& s, const Vec& dy, const Vec* gamma,
                                    double eps) {
  return norm_backward(x, s, true, dy, gamma, eps);
}

NormBackward batch_norm_backward(const Vec& x, const Shape& s, const Vec& dy, const Vec* gamma,
                                 double eps) {
  return norm_backward(x, s, false, dy, gamma, eps);
}

}  // namespace useg::ref
