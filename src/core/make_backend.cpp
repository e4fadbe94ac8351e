#include "useg/backend.h"

namespace useg {

std::unique_ptr<Backend> make_cpu_backend(const BackendOptions& opts);   // src/cpu
std::unique_ptr<Backend> make_cuda_backend(const BackendOptions& opts);  // cuda/ or no_cuda.cpp

std::unique_ptr<Backend> make_backend(Device device, const BackendOptions& opts) {
  return device == Device::CPU ? make_cpu_backend(opts) : make_cuda_backend(opts);
}

}  // namespace useg
