// torch.optim.SGD and torch.optim.Adam / AdamW, one step unrolled by hand in double
// (torch/optim/sgd.py and adam.py, single-tensor path, dampening 0, amsgrad off).
#include <cmath>

#include "ops/optim/ref.h"

namespace useg::ref {

void sgd_step(Vec& param, const Vec& grad, SgdState& state, double lr, double momentum,
              bool nesterov, double weight_decay) {
  Vec d_p = grad;
  if (weight_decay != 0)
    for (size_t i = 0; i < param.size(); ++i) d_p[i] += weight_decay * param[i];
  if (momentum != 0) {
    Vec& buf = state.momentum_buffer;
    if (buf.empty()) {
      buf = d_p;  // torch: buf = torch.clone(d_p).detach()
    } else {
      for (size_t i = 0; i < buf.size(); ++i) buf[i] = momentum * buf[i] + d_p[i];
    }
    for (size_t i = 0; i < d_p.size(); ++i) d_p[i] = nesterov ? d_p[i] + momentum * buf[i] : buf[i];
  }
  for (size_t i = 0; i < param.size(); ++i) param[i] -= lr * d_p[i];
}

void adam_step(Vec& param, const Vec& grad, AdamState& state, double lr, double beta1, double beta2,
               double eps, double weight_decay, bool decoupled) {
  if (state.step == 0) {
    state.exp_avg.assign(param.size(), 0.0);
    state.exp_avg_sq.assign(param.size(), 0.0);
  }
  state.step += 1;
  Vec g = grad;
  if (decoupled) {
    for (double& p : param) p *= 1 - lr * weight_decay;  // AdamW
  } else if (weight_decay != 0) {
    for (size_t i = 0; i < g.size(); ++i) g[i] += weight_decay * param[i];  // Adam's L2
  }
  const double t = static_cast<double>(state.step);
  const double bias_correction1 = 1 - std::pow(beta1, t);
  const double bias_correction2 = 1 - std::pow(beta2, t);
  const double step_size = lr / bias_correction1;
  for (size_t i = 0; i < param.size(); ++i) {
    state.exp_avg[i] = beta1 * state.exp_avg[i] + (1 - beta1) * g[i];
    state.exp_avg_sq[i] = beta2 * state.exp_avg_sq[i] + (1 - beta2) * g[i] * g[i];
    const double denom = std::sqrt(state.exp_avg_sq[i]) / std::sqrt(bias_correction2) + eps;
    param[i] -= step_size * state.exp_avg[i] / denom;
  }
}

}  // namespace useg::ref
