// TEMPORARY skeleton: replaced by the real implementation.
#include "cpu/cpu_backend.h"
#include "useg/error.h"

namespace useg::cpu {

void CpuBackend::window_accumulate(const Tensor& probs, int64_t n, const Tensor& weight, const std::array<int64_t, 3>& offset, Tensor& accum, Tensor& weight_sum) {
  USEG_THROW("cpu backend: window_accumulate is not implemented yet");
}

void CpuBackend::argmax_channels(const Tensor& x, Tensor& labels) {
  USEG_THROW("cpu backend: argmax_channels is not implemented yet");
}

}  // namespace useg::cpu
