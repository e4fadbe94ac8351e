// TEMPORARY skeleton: replaced by the real implementation.
#include "cpu/cpu_backend.h"
#include "useg/error.h"

namespace useg::cpu {

void CpuBackend::conv_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y, const ConvGeom& g) {
  USEG_THROW("cpu backend: conv_forward is not implemented yet");
}

void CpuBackend::conv_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx, const ConvGeom& g) {
  USEG_THROW("cpu backend: conv_backward_data is not implemented yet");
}

void CpuBackend::conv_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor* dbias, const ConvGeom& g) {
  USEG_THROW("cpu backend: conv_backward_weights is not implemented yet");
}

}  // namespace useg::cpu
