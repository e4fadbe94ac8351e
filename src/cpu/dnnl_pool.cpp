// TEMPORARY skeleton: replaced by the real implementation.
#include "cpu/cpu_backend.h"
#include "useg/error.h"

namespace useg::cpu {

void CpuBackend::maxpool_forward(const Tensor& x, Tensor& y, const PoolGeom& g) {
  USEG_THROW("cpu backend: maxpool_forward is not implemented yet");
}

void CpuBackend::maxpool_backward(const Tensor& x, const Tensor& dy, Tensor& dx, const PoolGeom& g) {
  USEG_THROW("cpu backend: maxpool_backward is not implemented yet");
}

}  // namespace useg::cpu
