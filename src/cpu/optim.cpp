// SGD and Adam/AdamW on the CPU: OpenMP loops over the per-element updates of ops/optim.h.
#include "ops/optim.h"

#include "cpu/cpu_backend.h"
#include "cpu/parallel.h"
#include "cpu/op_checks.h"
#include "useg/error.h"

namespace useg::cpu {

namespace {
constexpr Device kCpu = Device::CPU;
}

void CpuBackend::sgd_update(Tensor& param, const Tensor& grad, Tensor* momentum_buf,
                            const SgdStep& s) {
  const char* op = "sgd_update";
  check_tensor(op, "param", param, kCpu);
  check_tensor(op, "grad", grad, kCpu);
  check_same_shape(op, "param", param, "grad", grad);
  USEG_CHECK(s.momentum >= 0.f, op << ": momentum " << s.momentum << " must be >= 0");
  USEG_CHECK(!s.nesterov || s.momentum > 0.f,
             op << ": Nesterov momentum requires momentum > 0 (got " << s.momentum << ")");
  const bool use_buf = s.momentum != 0.f;
  USEG_CHECK(!use_buf || momentum_buf, op << ": momentum " << s.momentum << " for param "
                                          << param.shape().str()
                                          << " needs a momentum buffer (got none)");
  if (use_buf) {
    check_tensor(op, "momentum_buf", *momentum_buf, kCpu);
    check_same_shape(op, "param", param, "momentum_buf", *momentum_buf);
  }
  const ops::SgdCoefs k{s.lr, s.momentum, s.weight_decay, s.nesterov};
  float* p = param.data();
  const float* g = grad.data();
  float* buf = use_buf ? momentum_buf->data() : nullptr;
  const int64_t n = param.numel();
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) ops::sgd_update_element(p + i, g[i], buf ? buf + i : nullptr, k);
}

void CpuBackend::adam_update(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v,
                             const AdamStep& s) {
  const char* op = "adam_update";
  check_tensor(op, "param", param, kCpu);
  check_tensor(op, "grad", grad, kCpu);
  check_tensor(op, "m", m, kCpu);
  check_tensor(op, "v", v, kCpu);
  check_same_shape(op, "param", param, "grad", grad);
  check_same_shape(op, "param", param, "m", m);
  check_same_shape(op, "param", param, "v", v);
  USEG_CHECK(s.step >= 1, op << ": step " << s.step << " must be >= 1 (it counts from 1)");
  USEG_CHECK(s.beta1 >= 0.f && s.beta1 < 1.f && s.beta2 >= 0.f && s.beta2 < 1.f,
             op << ": betas (" << s.beta1 << ", " << s.beta2 << ") must be in [0, 1)");
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

}  // namespace useg::cpu
