// TEMPORARY skeleton: replaced by the real implementation.
#include "cpu/cpu_backend.h"
#include "useg/error.h"

namespace useg::cpu {

void CpuBackend::activation_forward(Activation a, float alpha, const Tensor& x, Tensor& y) {
  USEG_THROW("cpu backend: activation_forward is not implemented yet");
}

void CpuBackend::activation_backward(Activation a, float alpha, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx) {
  USEG_THROW("cpu backend: activation_backward is not implemented yet");
}

void CpuBackend::fill(Tensor& t, float value) {
  USEG_THROW("cpu backend: fill is not implemented yet");
}

void CpuBackend::copy(const Tensor& src, Tensor& dst) {
  USEG_THROW("cpu backend: copy is not implemented yet");
}

void CpuBackend::add(const Tensor& a, const Tensor& b, Tensor& y) {
  USEG_THROW("cpu backend: add is not implemented yet");
}

void CpuBackend::axpy(float alpha, const Tensor& x, Tensor& y) {
  USEG_THROW("cpu backend: axpy is not implemented yet");
}

void CpuBackend::scale(Tensor& x, float s) {
  USEG_THROW("cpu backend: scale is not implemented yet");
}

void CpuBackend::mul(const Tensor& a, const Tensor& b, Tensor& y) {
  USEG_THROW("cpu backend: mul is not implemented yet");
}

double CpuBackend::sum_squares(const Tensor& x) {
  USEG_THROW("cpu backend: sum_squares is not implemented yet");
}

bool CpuBackend::all_finite(const Tensor& x) {
  USEG_THROW("cpu backend: all_finite is not implemented yet");
}

void CpuBackend::concat_channels(const Tensor& a, const Tensor& b, Tensor& y) {
  USEG_THROW("cpu backend: concat_channels is not implemented yet");
}

void CpuBackend::split_channels(const Tensor& y, Tensor& a, Tensor& b) {
  USEG_THROW("cpu backend: split_channels is not implemented yet");
}

void CpuBackend::softmax_channels(const Tensor& x, Tensor& y) {
  USEG_THROW("cpu backend: softmax_channels is not implemented yet");
}

void CpuBackend::dropout_forward(const Tensor& x, float p, uint64_t seed, Tensor& y, Tensor& mask) {
  USEG_THROW("cpu backend: dropout_forward is not implemented yet");
}

}  // namespace useg::cpu
