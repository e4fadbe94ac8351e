// SGD and Adam/AdamW on the CPU: OpenMP loops over the per-element updates of ops/optim/optim.h.
#include "ops/optim/optim.h"

#include "core/op_checks.h"
#include "cpu/cpu_backend.h"
#include "cpu/parallel.h"
#include "useg/error.h"

namespace useg::cpu {

void sgd_update(BackendImpl& be, Tensor& param, const Tensor& grad, Tensor* momentum_buf,
                const SgdStep& s) {
  const bool use_buf = s.momentum != 0.f;  // the front checked the buffer is there
  const ops::SgdCoefs k{s.lr, s.momentum, s.weight_decay, s.nesterov};
  float* p = param.data();
  const float* g = grad.data();
  float* buf = use_buf ? momentum_buf->data() : nullptr;
  const int64_t n = param.numel();
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) ops::sgd_update_element(p + i, g[i], buf ? buf + i : nullptr, k);
}

void adam_update(BackendImpl& be, Tensor& param, const Tensor& grad, Tensor& m, Tensor& v,
                 const AdamStep& s) {
  const ops::AdamCoefs k =
      ops::adam_coefs(s.lr, s.beta1, s.beta2, s.eps, s.weight_decay, s.decoupled, s.step);
  float* p = param.data();
  const float* g = grad.data();
  float* mp = m.data();
  float* vp = v.data();
  const int64_t n = param.numel();
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) ops::adam_update_element(p + i, g[i], mp + i, vp + i, k);
}

void add_optim_ops(BackendOps& t) {
  t.sgd_update = sgd_update;
  t.adam_update = adam_update;
}

}  // namespace useg::cpu
