#include "useg/backend.h"

#include <algorithm>
#include <exception>

#include "useg/error.h"

namespace useg {

std::unique_ptr<Backend> make_cpu_backend(const BackendOptions& opts);   // src/cpu
std::unique_ptr<Backend> make_cuda_backend(const BackendOptions& opts);  // cuda/ or no_cuda.cpp

namespace {

// "" or one of `choices`, else an error naming the option and the choices.
void check_choice(const char* option, const std::string& value,
                  const std::vector<std::string>& choices) {
  if (value.empty() || std::find(choices.begin(), choices.end(), value) != choices.end()) return;
  std::string list;
  for (const std::string& c : choices) list += (list.empty() ? "" : ", ") + c;
  USEG_THROW(option << " '" << value << "' is not one of: " << list);
}

}  // namespace

std::unique_ptr<Backend> make_backend(Device device, const BackendOptions& opts) {
  check_choice("precision", opts.precision, precision_choices());
  check_choice("conv algorithm", opts.conv_algorithm, conv_algorithm_choices());
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
