// SGD and Adam/AdamW on CUDA (checked by the front): the per-step scalars computed once on the host
// (ops::adam_coefs, as the CPU backend), then one elementwise kernel over ops/optim/optim.h.
#include "core/op_checks.h"
#include "cuda/cuda_backend.h"
#include "ops/optim/launch.h"
#include "ops/optim/optim.h"

namespace useg::gpu {

void sgd_update(BackendImpl& impl, Tensor& param, const Tensor& grad, Tensor* momentum_buf,
                const SgdStep& s) {
  CudaBackend& be = cuda(impl);
  const bool use_buf = s.momentum != 0.f;  // the front checked the buffer is there
  const ops::SgdCoefs k{s.lr, s.momentum, s.weight_decay, s.nesterov};
  launch_sgd_update(param.data(), grad.data(), use_buf ? momentum_buf->data() : nullptr,
                    param.numel(), k, be.stream());
}

void adam_update(BackendImpl& impl, Tensor& param, const Tensor& grad, Tensor& m, Tensor& v,
                 const AdamStep& s) {
  CudaBackend& be = cuda(impl);
  const ops::AdamCoefs k =
      ops::adam_coefs(s.lr, s.beta1, s.beta2, s.eps, s.weight_decay, s.decoupled, s.step);
  launch_adam_update(param.data(), grad.data(), m.data(), v.data(), param.numel(), k, be.stream());
}

void add_optim_ops(BackendOps& t) {
  t.sgd_update = sgd_update;
  t.adam_update = adam_update;
}

}  // namespace useg::gpu
