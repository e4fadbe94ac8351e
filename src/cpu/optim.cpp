// TEMPORARY skeleton: replaced by the real implementation.
#include "cpu/cpu_backend.h"
#include "useg/error.h"

namespace useg::cpu {

void CpuBackend::sgd_update(Tensor& param, const Tensor& grad, Tensor* momentum_buf, const SgdStep& s) {
  USEG_THROW("cpu backend: sgd_update is not implemented yet");
}

void CpuBackend::adam_update(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamStep& s) {
  USEG_THROW("cpu backend: adam_update is not implemented yet");
}

}  // namespace useg::cpu
