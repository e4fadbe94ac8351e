// Global average pooling on every backend vs the naive double reference, over the shared
// catalogue of activation shapes: the forward (a mean in double, rounded once), the backward
// (dy / S broadcast), a finite-difference check of the composition, and the shape errors.
#include <gtest/gtest.h>

#include <string>
#include <tuple>

#include "common/compare.h"
#include "common/devices.h"
#include "common/expect_error.h"
#include "common/grad_check.h"
#include "common/shapes.h"
#include "reference/pool_ref.h"

namespace useg {
namespace {

// One rounding of a double mean (forward) or one float division (backward).
constexpr test::Tolerance kTol{1e-6, 1e-6};

class GlobalAvgPool : public ::testing::TestWithParam<std::tuple<Device, Shape>> {
 protected:
  void SetUp() override {
    std::string why;
    be = test::test_backend(std::get<0>(GetParam()), &why);
    if (!be) GTEST_SKIP() << why;
  }
  const Shape& xs() const { return std::get<1>(GetParam()); }
  Backend* be = nullptr;
};

TEST_P(GlobalAvgPool, ForwardAndBackwardMatchTheReference) {
  Tensor x = test::random_tensor(xs(), 7, -3.f, 5.f);
  const Shape ys{xs()[0], xs()[1], 1, 1, 1};
  Tensor y = test::garbage(*be, ys);
  be->global_avg_pool_forward(test::on(*be, x), y);
  EXPECT_ALLCLOSE(y, ref::global_avg_pool_forward(ref::Array::from(x)).to_tensor(), kTol);

  Tensor dy = test::random_tensor(ys, 8);
  Tensor dx = test::garbage(*be, xs());
  be->global_avg_pool_backward(test::on(*be, dy), dx);
  EXPECT_ALLCLOSE(dx, ref::global_avg_pool_backward(ref::Array::from(dy), xs()).to_tensor(),
                  kTol);
}

// loss = sum(y * r): the analytic gradient (backward of r) against central differences of the
// forward, on the CPU reference of the input (the op is linear: differences are exact to
// rounding).
TEST_P(GlobalAvgPool, BackwardIsTheForwardsGradient) {
  Tensor x = test::random_tensor(xs(), 11);
  const Shape ys{xs()[0], xs()[1], 1, 1, 1};
  Tensor r = test::random_tensor(ys, 12);
  Tensor dx = Tensor::empty(xs(), be->device());
  be->global_avg_pool_backward(test::on(*be, r), dx);
  const std::vector<float> xv = x.to_vector(), rf = r.to_vector();
  std::vector<double> params(xv.begin(), xv.end());
  const std::vector<double> rv(rf.begin(), rf.end());
  auto loss = [&] {
    Tensor xp = Tensor::empty(xs());
    for (size_t i = 0; i < params.size(); ++i) xp.data()[i] = float(params[i]);
    Tensor y = Tensor::empty(ys, be->device());
    be->global_avg_pool_forward(test::on(*be, xp), y);
    std::vector<float> yv = y.to_vector();
    return test::dot(std::vector<double>(yv.begin(), yv.end()), rv);
  };
  std::vector<double> fd = test::numeric_gradient(params, loss, 1e-2);
  std::vector<float> got = dx.to_vector();
  for (size_t i = 0; i < fd.size(); ++i) EXPECT_NEAR(got[i], fd[i], 1e-4) << "element " << i;
}

INSTANTIATE_TEST_SUITE_P(
    Catalogue, GlobalAvgPool,
    ::testing::Combine(::testing::ValuesIn(test::test_devices()),
                       ::testing::ValuesIn(test::activation_shapes())),
    [](const ::testing::TestParamInfo<GlobalAvgPool::ParamType>& info) {
      const Shape& s = std::get<1>(info.param);
      return std::string(device_name(std::get<0>(info.param))) + "_n" + std::to_string(s[0]) +
             "_c" + std::to_string(s[1]) + "_d" + std::to_string(s[2]) + "_h" +
             std::to_string(s[3]) + "_w" + std::to_string(s[4]);
    });

TEST(GlobalAvgPoolErrors, ShapesAreNamed) {
  auto be = make_backend(Device::CPU);
  Tensor x = Tensor::zeros(Shape{2, 3, 1, 4, 5});
  Tensor bad = Tensor::zeros(Shape{2, 3, 1, 1, 2});
  test::expect_error([&] { be->global_avg_pool_forward(x, bad); },
                     "global_avg_pool_forward: y is [2, 3, 1, 1, 2], expected [2, 3, 1, 1, 1] "
                     "for x [2, 3, 1, 4, 5]");
  Tensor dy = Tensor::zeros(Shape{2, 4, 1, 1, 1});
  test::expect_error([&] { be->global_avg_pool_backward(dy, x); },
                     "global_avg_pool_backward: dy is [2, 4, 1, 1, 1], expected [2, 3, 1, 1, 1] "
                     "for dx [2, 3, 1, 4, 5]");
}

}  // namespace
}  // namespace useg
