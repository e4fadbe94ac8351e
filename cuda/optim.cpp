// SGD and Adam/AdamW on CUDA: the shared checks, the per-step scalars computed once on the host
// (ops::adam_coefs, as the CPU backend), then one elementwise kernel over ops/optim.h.
#include "core/op_checks.h"
#include "cuda/cuda_backend.h"
#include "cuda/launch.h"
#include "ops/optim.h"

namespace useg::gpu {

void CudaBackend::sgd_update(Tensor& param, const Tensor& grad, Tensor* momentum_buf,
                             const SgdStep& s) {
  const bool use_buf = check_sgd(param, grad, momentum_buf, s, Device::CUDA);
  const ops::SgdCoefs k{s.lr, s.momentum, s.weight_decay, s.nesterov};
  launch_sgd_update(param.data(), grad.data(), use_buf ? momentum_buf->data() : nullptr,
                    param.numel(), k, stream());
}

void CudaBackend::adam_update(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v,
                              const AdamStep& s) {
  check_adam(param, grad, m, v, s, Device::CUDA);
  const ops::AdamCoefs k =
      ops::adam_coefs(s.lr, s.beta1, s.beta2, s.eps, s.weight_decay, s.decoupled, s.step);
  launch_adam_update(param.data(), grad.data(), m.data(), v.data(), param.numel(), k, stream());
}

}  // namespace useg::gpu
