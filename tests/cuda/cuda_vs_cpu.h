// CUDA-vs-CPU comparisons: every op of the CUDA backend on the same random inputs as the CPU
// backend, over the shared catalogue of awkward shapes (common/shapes.h), compared with allclose.
// They run wherever make_backend(Device::CUDA) succeeds: on a GPU, and under cudacpu
// (tests/cudacpu/), where our kernels execute on the CPU. Elsewhere they report SKIPPED with the
// reason ("no CUDA device found ...", or "useg was built without CUDA ...").
//
// Tolerances (|cuda - cpu| <= abs + rel * |cpu|), from how the two sides may differ on a GPU:
//   kExact        data movement, selections (argmax, max pooling, flip, concat), fill, dropout's
//                 counter-based mask, add/mul (one IEEE rounding of the same operands)
//   kUlps         one fused multiply-add where the CPU rounds twice (axpy, scale-and-add, the
//                 optimizer updates, window accumulation): abs 1e-6 + rel 1e-6
//   kTranscend    expf / tanhf / logf of the device math library vs glibc (<= 2 ulp each), also
//                 for softmax: abs 1e-6 + rel 1e-5
//   kNorm         double statistics reduced in another order, then a float apply: abs 2e-5 +
//                 rel 1e-5 (outputs are O(1))
//   kSums         float results of double sums over up to ~4000 terms (dgamma, dbeta, dbias):
//                 abs 1e-4 + rel 1e-5
// Losses: the value to rel 1e-6, the gradient to abs 1e-5 * max|gradient| + rel 1e-4 (the
// CPU op tests' own tolerances against the double reference).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "common/compare.h"
#include "common/devices.h"
#include "common/shapes.h"
#include "useg/backend.h"
#include "useg/error.h"
#include "useg/tensor.h"

namespace useg::test {

constexpr Tolerance kExact{0, 0};
constexpr Tolerance kUlps{1e-6, 1e-6};
constexpr Tolerance kTranscend{1e-6, 1e-5};
constexpr Tolerance kNorm{2e-5, 1e-5};
constexpr Tolerance kSums{1e-4, 1e-5};

class CudaVsCpuBase {
 protected:
  // False (and the test skips with m_skip) when no CUDA backend can be made. `gpu_options`
  // configures the CUDA one: strict fp32 unless a test asks for TF32 or half precision (the
  // tolerances above are float32's; devices.h says why).
  bool make_backends(const BackendOptions& gpu_options = test_backend_options()) {
    std::string why;
    if (!device_available(Device::CUDA, &why)) {
      m_skip = "CUDA backend unavailable: " + why;
      return false;
    }
    m_cpu = make_backend(Device::CPU);
    m_gpu = make_backend(Device::CUDA, gpu_options);
    return true;
  }
  Backend& cpu() { return *m_cpu; }
  Backend& gpu() { return *m_gpu; }
  static Tensor on_gpu(const Tensor& t) { return t.to(Device::CUDA); }
  static Tensor gpu_empty(const Shape& s) { return Tensor::empty(s, Device::CUDA); }
  static Tensor host(const Tensor& t) { return t.to(Device::CPU); }

  std::unique_ptr<Backend> m_cpu, m_gpu;
  std::string m_skip;
};

template <class P>
class CudaVsCpuTest : public ::testing::TestWithParam<P>, public CudaVsCpuBase {
 protected:
  void SetUp() override {
    if (!make_backends()) GTEST_SKIP() << m_skip;
  }
};

class CudaVsCpuFixture : public ::testing::Test, public CudaVsCpuBase {
 protected:
  void SetUp() override {
    if (!make_backends()) GTEST_SKIP() << m_skip;
  }
};

// "n2_c4_d1_h9_w16"
inline std::string cuda_shape_name(const ::testing::TestParamInfo<Shape>& info) {
  const Shape& s = info.param;
  return "n" + std::to_string(s[0]) + "_c" + std::to_string(s[1]) + "_d" + std::to_string(s[2]) +
         "_h" + std::to_string(s[3]) + "_w" + std::to_string(s[4]);
}

}  // namespace useg::test
