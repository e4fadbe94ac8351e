// Device parametrization: tests written against a Backend& run on every device; on a machine
// without a GPU the CUDA instances report SKIPPED with the reason. A GPU user runs the very same
// binary and the CUDA instances execute.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "useg/backend.h"

namespace useg::test {

inline std::vector<Device> all_devices() { return {Device::CPU, Device::CUDA}; }

inline std::string device_param_name(const ::testing::TestParamInfo<Device>& info) {
  return device_name(info.param);
}

// Fixture base: backend() is the device's backend; CUDA without a device skips the test.
class DeviceTest : public ::testing::TestWithParam<Device> {
 protected:
  void SetUp() override {
    std::string why;
    if (!device_available(GetParam(), &why))
      GTEST_SKIP() << "device " << device_name(GetParam()) << " unavailable: " << why;
    m_backend = make_backend(GetParam());
  }
  Backend& backend() { return *m_backend; }
  Device device() const { return GetParam(); }
  // Host tensor -> this device (no copy on CPU).
  Tensor on_device(const Tensor& t) const { return t.to(GetParam()); }

 private:
  std::unique_ptr<Backend> m_backend;
};

}  // namespace useg::test

#define USEG_INSTANTIATE_DEVICE_TEST(Fixture)                                          \
  INSTANTIATE_TEST_SUITE_P(Devices, Fixture, ::testing::ValuesIn(::useg::test::all_devices()), \
                           ::useg::test::device_param_name)
