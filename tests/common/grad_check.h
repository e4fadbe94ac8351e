// Finite-difference gradients for gradient checks: central differences in double precision.
#pragma once

#include <functional>
#include <vector>

namespace useg::test {

// d loss / d params[i] for every i, by (loss(p + h e_i) - loss(p - h e_i)) / 2h. `params` is
// perturbed in place (loss() must read it) and restored.
inline std::vector<double> numeric_gradient(std::vector<double>& params,
                                            const std::function<double()>& loss, double h) {
  std::vector<double> grad(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    double saved = params[i];
    params[i] = saved + h;
    double up = loss();
    params[i] = saved - h;
    double down = loss();
    params[i] = saved;
    grad[i] = (up - down) / (2 * h);
  }
  return grad;
}

// sum_i a[i] * b[i] in double: the scalar loss sum(y * r) whose gradient w.r.t. y is r.
inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) s += a[i] * b[i];
  return s;
}

}  // namespace useg::test
