// TEMPORARY skeleton: replaced by the oneDNN context.
#include "cpu/cpu_backend.h"
#include "cpu/dnnl_context.h"

namespace useg {
namespace cpu {
CpuBackend::CpuBackend(const BackendOptions&) : m_dnnl(std::make_unique<DnnlContext>()) {}
CpuBackend::~CpuBackend() = default;
}  // namespace cpu
std::unique_ptr<Backend> make_cpu_backend(const BackendOptions& opts) {
  return std::make_unique<cpu::CpuBackend>(opts);
}
}  // namespace useg
