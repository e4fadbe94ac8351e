#include "useg/backend.h"

#include <algorithm>
#include <exception>

#include "useg/error.h"

namespace useg {

std::unique_ptr<Backend> make_cpu_backend(const BackendOptions& opts);   // src/cpu
std::unique_ptr<Backend> make_cuda_backend(const BackendOptions& opts);  // cuda/ or no_cuda.cpp

std::unique_ptr<Backend> make_backend(Device device, const BackendOptions& opts) {
  const std::vector<std::string>& choices = precision_choices();
  if (!opts.precision.empty() &&
      std::find(choices.begin(), choices.end(), opts.precision) == choices.end()) {
    std::string list;
    for (const std::string& c : choices) list += (list.empty() ? "" : ", ") + c;
    USEG_THROW("precision '" << opts.precision << "' is not one of: " << list);
  }
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
