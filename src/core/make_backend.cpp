#include "useg/backend.h"

#include <exception>

#include "useg/error.h"

namespace useg {

std::unique_ptr<Backend> make_cpu_backend(const BackendOptions& opts);   // src/cpu
std::unique_ptr<Backend> make_cuda_backend(const BackendOptions& opts);  // cuda/ or no_cuda.cpp

std::unique_ptr<Backend> make_backend(Device device, const BackendOptions& opts) {
  const std::string& p = opts.precision;
  USEG_CHECK(p.empty() || p == "fp32" || p == "tf32" || p == "fp16" || p == "bf16",
             "precision '" << p << "' is not one of: " << kPrecisionChoices);
  return device == Device::CPU ? make_cpu_backend(opts) : make_cuda_backend(opts);
}

bool device_available(Device device, std::string* why) {
  if (device == Device::CPU) return true;
  try {
    make_cuda_backend(BackendOptions{});
    return true;
  } catch (const std::exception& e) {
    if (why) *why = e.what();
    return false;
  }
}

}  // namespace useg
