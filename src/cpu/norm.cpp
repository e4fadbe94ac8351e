// TEMPORARY skeleton: replaced by the real implementation.
#include "cpu/cpu_backend.h"
#include "useg/error.h"

namespace useg::cpu {

void CpuBackend::instance_norm_forward(const Tensor& x, const Tensor* gamma, const Tensor* beta, float eps, Tensor& y, Tensor* save_mean, Tensor* save_invstd) {
  USEG_THROW("cpu backend: instance_norm_forward is not implemented yet");
}

void CpuBackend::instance_norm_backward(const Tensor& x, const Tensor& dy, const Tensor* gamma, const Tensor& save_mean, const Tensor& save_invstd, Tensor& dx, Tensor* dgamma, Tensor* dbeta) {
  USEG_THROW("cpu backend: instance_norm_backward is not implemented yet");
}

void CpuBackend::batch_norm_forward_training(const Tensor& x, const Tensor* gamma, const Tensor* beta, float eps, float momentum, Tensor& running_mean, Tensor& running_var, Tensor& y, Tensor& save_mean, Tensor& save_invstd) {
  USEG_THROW("cpu backend: batch_norm_forward_training is not implemented yet");
}

void CpuBackend::batch_norm_forward_inference(const Tensor& x, const Tensor* gamma, const Tensor* beta, const Tensor& running_mean, const Tensor& running_var, float eps, Tensor& y) {
  USEG_THROW("cpu backend: batch_norm_forward_inference is not implemented yet");
}

void CpuBackend::batch_norm_backward(const Tensor& x, const Tensor& dy, const Tensor* gamma, const Tensor& save_mean, const Tensor& save_invstd, Tensor& dx, Tensor* dgamma, Tensor* dbeta) {
  USEG_THROW("cpu backend: batch_norm_backward is not implemented yet");
}

}  // namespace useg::cpu
