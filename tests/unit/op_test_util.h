// Shared plumbing of the op tests: a fixture that owns the backend (every test calls ops through
// a Backend&), moves tensors to and from its device, names parametrized cases by shape, and
// checks error messages by text.
//
// The device is CPU unless USEG_TEST_DEVICE=cuda is set: then the very same tests run on the CUDA
// backend, and are skipped (with make_backend's message) where none is available.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "common/compare.h"
#include "common/devices.h"
#include "common/shapes.h"
#include "ops/ref_util.h"
#include "useg/backend.h"
#include "useg/error.h"
#include "useg/tensor.h"

namespace useg::test {

inline Device op_test_device() {
  const char* env = std::getenv("USEG_TEST_DEVICE");
  return env ? parse_device(env) : Device::CPU;
}

class OpTestBase {
 protected:
  // Returns false (and the caller skips) when the device has no backend in this build.
  bool make() {
    try {
      m_backend = make_backend(op_test_device(), test_backend_options());  // strict fp32
      return true;
    } catch (const Error& e) {
      m_skip_reason = e.what();
      return false;
    }
  }
  Backend& be() { return *m_backend; }
  Tensor dev(const Tensor& t) { return t.to(m_backend->device()); }
  Tensor dev_empty(const Shape& s) { return Tensor::empty(s, m_backend->device()); }
  Tensor dev_zeros(const Shape& s) { return Tensor::zeros(s, m_backend->device()); }
  static Tensor host(const Tensor& t) { return t.to(Device::CPU); }

  std::unique_ptr<Backend> m_backend;
  std::string m_skip_reason;
};

#define USEG_OP_TEST_SETUP()                    \
  void SetUp() override {                       \
    if (!make()) GTEST_SKIP() << m_skip_reason; \
  }

class OpTest : public ::testing::Test, public OpTestBase {
 protected:
  USEG_OP_TEST_SETUP()
};

template <class P>
class OpParamTest : public ::testing::TestWithParam<P>, public OpTestBase {
 protected:
  USEG_OP_TEST_SETUP()
};

// "n2_c4_d1_h9_w16"
inline std::string shape_name(const Shape& s) {
  return "n" + std::to_string(s[0]) + "_c" + std::to_string(s[1]) + "_d" + std::to_string(s[2]) +
         "_h" + std::to_string(s[3]) + "_w" + std::to_string(s[4]);
}
inline std::string shape_param_name(const ::testing::TestParamInfo<Shape>& info) {
  return shape_name(info.param);
}

// Expects fn() to throw useg::Error with `text` in its message.
inline void expect_error(const std::function<void()>& fn, const std::string& text) {
  try {
    fn();
    ADD_FAILURE() << "expected a useg::Error containing \"" << text << "\"";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos)
        << "message: " << e.what() << "\nexpected to contain: " << text;
  }
}

// Largest |x| (for tolerances scaled to a result's magnitude).
inline double max_abs(const ref::Vec& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::fabs(x));
  return m;
}

}  // namespace useg::test
