// Max pooling on every backend vs the naive reference (window max, gradient to the first
// maximum), on every case of the shared catalogue with continuous inputs and with tie-heavy
// inputs (ReLU-like: many zeros, so whole windows are equal); a finite-difference gradient
// check; shape-error messages.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <tuple>

#include "common/compare.h"
#include "common/devices.h"
#include "common/expect_error.h"
#include "common/grad_check.h"
#include "common/shapes.h"
#include "ops/pool/ref.h"
#include "useg/backend.h"

namespace useg {
namespace {

using test::PoolCase;

// The forward is a selection and the backward a sum of at most a handful of dy values per
// element (overlapping windows), so results should be exact or within a few float ulps; abs 1e-6
// + rel 1e-6 says so, and any wrong routing is off by a whole dy value, O(0.1).
constexpr test::Tolerance kTol{1e-6, 1e-6};

// ReLU-like values: about half exact zeros, the rest from {0.5, 1, 1.5}: windows of equal
// values, where only the first maximum may receive the gradient.
Tensor tie_heavy_tensor(const Shape& s, uint32_t seed) {
  Tensor t = Tensor::empty(s);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(-3, 3);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = 0.5f * static_cast<float>(std::max(0, u(rng)));
  return t;
}

class PoolOp : public ::testing::TestWithParam<std::tuple<Device, PoolCase>> {
 protected:
  void SetUp() override {
    std::string why;
    be = test::test_backend(std::get<0>(GetParam()), &why);
    if (!be) GTEST_SKIP() << why;
  }
  const PoolCase& cs() const { return std::get<1>(GetParam()); }

  void check_forward(const Tensor& x) {
    const PoolCase& c = cs();
    ref::Array yr = ref::maxpool_forward(ref::Array::from(x), c.g);
    Tensor y = test::garbage(*be, yr.shape);
    be->maxpool_forward(test::on(*be, x), y, c.g);
    EXPECT_ALLCLOSE(y, yr.to_tensor(), kTol);
  }

  void check_backward(const Tensor& x) {
    const PoolCase& c = cs();
    Tensor dy = test::random_tensor(pool_output_shape(c.x, c.g), 101);
    ref::Array dxr = ref::maxpool_backward(ref::Array::from(x), ref::Array::from(dy), c.g);
    Tensor dx = test::garbage(*be, c.x);
    be->maxpool_backward(test::on(*be, x), test::on(*be, dy), dx, c.g);
    EXPECT_ALLCLOSE(dx, dxr.to_tensor(), kTol);
  }

  Backend* be = nullptr;
};

std::string case_name(const ::testing::TestParamInfo<std::tuple<Device, PoolCase>>& info) {
  return std::string(device_name(std::get<0>(info.param))) + "_" + std::get<1>(info.param).name;
}

TEST_P(PoolOp, ForwardMatchesReference) { check_forward(test::random_tensor(cs().x, 111)); }

TEST_P(PoolOp, ForwardWithTiesMatchesReference) { check_forward(tie_heavy_tensor(cs().x, 112)); }

TEST_P(PoolOp, BackwardMatchesReference) { check_backward(test::random_tensor(cs().x, 121)); }

TEST_P(PoolOp, BackwardRoutesTiesToTheFirstMaximum) {
  check_backward(tie_heavy_tensor(cs().x, 122));
}

INSTANTIATE_TEST_SUITE_P(Catalogue, PoolOp,
                         ::testing::Combine(::testing::ValuesIn(test::test_devices()),
                                            ::testing::ValuesIn(test::pool_cases())),
                         case_name);

// ---- finite differences of loss = sum(maxpool(x) * r) on the double reference. Inputs are a
// shuffled ramp with steps of 0.01 and h = 1e-3, so no perturbation changes a window's argmax
// and the (piecewise linear) loss is differentiated exactly.
class PoolGradCheck : public PoolOp {};

TEST_P(PoolGradCheck, GradientMatchesFiniteDifferences) {
  const PoolCase& c = cs();
  Tensor x = Tensor::empty(c.x);
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = 0.01f * static_cast<float>(i);
  std::shuffle(x.data(), x.data() + x.numel(), std::mt19937(131));
  Tensor r = test::random_tensor(pool_output_shape(c.x, c.g), 132);
  ref::Array xa = ref::Array::from(x), ra = ref::Array::from(r);
  auto loss = [&] { return test::dot(ref::maxpool_forward(xa, c.g).v, ra.v); };
  ref::Array gx(c.x);
  gx.v = test::numeric_gradient(xa.v, loss, 1e-3);

  Tensor dx = test::garbage(*be, c.x);
  be->maxpool_backward(test::on(*be, x), test::on(*be, r), dx, c.g);
  // The differences divide by 2h: allow for double rounding of the ramp values (~1e-16 / 1e-3).
  EXPECT_ALLCLOSE(dx, gx.to_tensor(), (test::Tolerance{1e-5, 1e-5}));
}

std::vector<PoolCase> grad_cases() {
  std::vector<PoolCase> out;
  for (const PoolCase& c : test::pool_cases())
    if (c.name == "2d_3x3_s2" || c.name == "3d_odd_2x2x2") out.push_back(c);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Small, PoolGradCheck,
                         ::testing::Combine(::testing::ValuesIn(test::test_devices()),
                                            ::testing::ValuesIn(grad_cases())),
                         case_name);

// ---- shape errors
using test::expect_error;

TEST(PoolErrors, NamesMismatchedShapes) {
  Backend& be = *test::test_backend(Device::CPU);
  PoolGeom g;  // 1x2x2 / 1x2x2
  Tensor x = Tensor::zeros(Shape{1, 3, 1, 7, 9}), y = Tensor::zeros(Shape{1, 3, 1, 4, 4});
  expect_error([&] { be.maxpool_forward(x, y, g); },
               "maxpool_forward: output is [1, 3, 1, 4, 4], expected [1, 3, 1, 3, 4] for input "
               "[1, 3, 1, 7, 9], kernel 1x2x2 stride 1x2x2");
  Tensor dy = Tensor::zeros(Shape{1, 3, 1, 3, 4}), dx = Tensor::zeros(Shape{1, 3, 1, 7, 8});
  expect_error([&] { be.maxpool_backward(x, dy, dx, g); },
               "maxpool_backward: dx is [1, 3, 1, 7, 8], expected [1, 3, 1, 7, 9]");
  Tensor dy_bad = Tensor::zeros(Shape{1, 2, 1, 3, 4}), dx_ok = Tensor::zeros(x.shape());
  expect_error([&] { be.maxpool_backward(x, dy_bad, dx_ok, g); },
               "maxpool_backward: dy is [1, 2, 1, 3, 4], expected [1, 3, 1, 3, 4]");
}

TEST(PoolErrors, WindowLargerThanInput) {
  Backend& be = *test::test_backend(Device::CPU);
  PoolGeom g;
  g.kernel = {2, 2, 2};
  g.stride = {2, 2, 2};
  Tensor x = Tensor::zeros(Shape{1, 1, 1, 4, 4}), y = Tensor::zeros(Shape{1, 1, 1, 2, 2});
  expect_error([&] { be.maxpool_forward(x, y, g); },
               "maxpool_forward: pooling window 2x2x2 is larger than the input [1, 1, 1, 4, 4]");
  g.stride = {1, 0, 2};
  expect_error([&] { be.maxpool_forward(x, y, g); },
               "maxpool_forward: invalid geometry kernel 2x2x2 stride 1x0x2");
}

}  // namespace
}  // namespace useg
