// Device parametrization of the network-level tests (Golden: a whole U-Net against PyTorch's
// golden files); the op tests have their own harness, tests/harness/op_case.h. A test is written
// against a Backend& and runs on every device in test_devices(); a device whose backend cannot
// be created here (a build without CUDA, a machine without a GPU) makes its instances
// GTEST_SKIP with the reason. A GPU user runs the very same binary and the CUDA instances
// execute. Use: derive the fixture from DeviceTest and instantiate with
// USEG_INSTANTIATE_DEVICE_TEST(Fixture).
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "useg/backend.h"
#include "useg/error.h"

namespace useg {
inline void PrintTo(Device d, std::ostream* os) { *os << device_name(d); }  // for gtest
}  // namespace useg

namespace useg::test {

inline std::vector<Device> test_devices() { return {Device::CPU, Device::CUDA}; }

inline std::string device_param_name(const ::testing::TestParamInfo<Device>& info) {
  return device_name(info.param);
}

// The options of every backend the numerics tests make: strict float32 convolutions. The CUDA
// backend's default is TF32 (10-bit mantissa products), which the tests' float32 tolerances
// (~1e-4) do not allow; TF32 has its own op cases with their own tolerance (tf32_*, in
// src/ops/conv/test_precision.cpp). The CPU backend accepts "fp32" (its only arithmetic).
inline BackendOptions test_backend_options() {
  BackendOptions o;
  o.precision = "fp32";
  return o;
}

// The backend for `d`, created on first use and shared; null (with `why` set) when unavailable.
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
      s.backend = make_backend(d, test_backend_options());
    } catch (const Error& e) {
      s.error = e.what();
    }
    it = slots.emplace(d, std::move(s)).first;
  }
  if (why) *why = it->second.error;
  return it->second.backend.get();
}

// Fixture base for tests parametrized by device only.
class DeviceTest : public ::testing::TestWithParam<Device> {
 protected:
  void SetUp() override {
    std::string why;
    m_backend = test_backend(GetParam(), &why);
    if (!m_backend)
      GTEST_SKIP() << "device " << device_name(GetParam()) << " unavailable: " << why;
  }
  Backend& backend() { return *m_backend; }
  Device device() const { return GetParam(); }
  Tensor on_device(const Tensor& t) const { return t.to(GetParam()); }

 private:
  Backend* m_backend = nullptr;
};

}  // namespace useg::test

#define USEG_INSTANTIATE_DEVICE_TEST(Fixture)                                                 \
  INSTANTIATE_TEST_SUITE_P(Devices, Fixture, ::testing::ValuesIn(::useg::test::test_devices()), \
                           ::useg::test::device_param_name)
