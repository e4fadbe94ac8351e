// TEMPORARY skeleton: replaced by the real implementation.
#include "cpu/cpu_backend.h"
#include "useg/error.h"

namespace useg::cpu {

double CpuBackend::loss_forward_backward(const LossSpec& spec, const Tensor& logits, const Tensor& target, Tensor* dlogits) {
  USEG_THROW("cpu backend: loss_forward_backward is not implemented yet");
}

}  // namespace useg::cpu
