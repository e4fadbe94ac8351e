// The devices the op tests run on, one shared backend per device, and a helper to move test
// data there. Op tests are parametrized over test_devices() and written against a Backend&, so a
// CUDA build runs the very same bodies once Device::CUDA is listed here; a device whose backend
// cannot be created (no CUDA build, no GPU) makes its tests GTEST_SKIP with the reason.
#pragma once

#include <limits>
#include <map>
#include <ostream>
#include <memory>
#include <string>
#include <vector>

#include "useg/backend.h"
#include "useg/error.h"

namespace useg {
inline void PrintTo(Device d, std::ostream* os) { *os << device_name(d); }  // for gtest
}  // namespace useg

namespace useg::test {

inline std::vector<Device> test_devices() { return {Device::CPU}; }

// The backend for `d`, created on first use; null (with `why` set) when it is unavailable.
inline Backend* test_backend(Device d, std::string* why = nullptr) {
  struct Slot {
    std::unique_ptr<Backend> backend;
    std::string error;
  };
  static std::map<Device, Slot> slots;
  auto it = slots.find(d);
  if (it == slots.end()) {
    Slot s;
    try {
      s.backend = make_backend(d);
    } catch (const Error& e) {
      s.error = e.what();
    }
    it = slots.emplace(d, std::move(s)).first;
  }
  if (why) *why = it->second.error;
  return it->second.backend.get();
}

// A copy of host tensor `t` on the backend's device (the same tensor on the CPU).
inline Tensor on(const Backend& be, const Tensor& t) { return t.to(be.device()); }

// A tensor filled with NaN on the backend's device: outputs start as garbage, so a test fails if
// an op leaves any element unwritten or accumulates into it.
inline Tensor garbage(const Backend& be, const Shape& s) {
  return Tensor::full(s, std::numeric_limits<float>::quiet_NaN()).to(be.device());
}

}  // namespace useg::test
