// Convolution on every backend vs the naive double-precision reference, on every case of the
// shared catalogue (forward with and without bias, backward-data, backward-weights with and
// without the bias gradient), a finite-difference gradient check, and the shape-error messages.
#include <gtest/gtest.h>

#include <string>
#include <tuple>

#include "common/compare.h"
#include "common/devices.h"
#include "common/expect_error.h"
#include "common/grad_check.h"
#include "common/shapes.h"
#include "ops/conv/ref.h"
#include "useg/backend.h"
#include "useg/error.h"

namespace useg {
namespace {

using test::ConvCase;

// float32 results vs a double reference. An output sums at most ~500 products of values in
// [-1, 1] (16 channels x 27 taps forward, 2 x 90 positions for a weight gradient); the largest
// error observed over the catalogue is ~1e-5, so abs 1e-4 + rel 1e-4 keeps a 10x margin while
// any indexing or layout mistake is off by O(0.1).
constexpr test::Tolerance kTol{1e-4, 1e-4};

Shape weight_shape(const ConvCase& c) {
  return {c.cout, c.x[1], c.g.kernel[0], c.g.kernel[1], c.g.kernel[2]};
}

class ConvOp : public ::testing::TestWithParam<std::tuple<Device, ConvCase>> {
 protected:
  void SetUp() override {
    std::string why;
    be = test::test_backend(std::get<0>(GetParam()), &why);
    if (!be) GTEST_SKIP() << why;
  }
  const ConvCase& cs() const { return std::get<1>(GetParam()); }
  Backend* be = nullptr;
};

std::string case_name(const ::testing::TestParamInfo<std::tuple<Device, ConvCase>>& info) {
  return std::string(device_name(std::get<0>(info.param))) + "_" + std::get<1>(info.param).name;
}

TEST_P(ConvOp, ForwardMatchesReference) {
  const ConvCase& c = cs();
  Tensor x = test::random_tensor(c.x, 11), w = test::random_tensor(weight_shape(c), 12);
  Tensor b = test::random_tensor(Shape{c.cout}, 13);
  for (bool with_bias : {false, true}) {
    SCOPED_TRACE(with_bias ? "with bias" : "without bias");
    ref::Array ba = ref::Array::from(b);
    ref::Array yr = ref::conv_forward(ref::Array::from(x), ref::Array::from(w),
                                      with_bias ? &ba : nullptr, c.g);
    Tensor bd = test::on(*be, b);
    Tensor y = test::garbage(*be, yr.shape);
    be->conv_forward(test::on(*be, x), test::on(*be, w), with_bias ? &bd : nullptr, y, c.g);
    EXPECT_ALLCLOSE(y, yr.to_tensor(), kTol);
  }
}

TEST_P(ConvOp, BackwardDataMatchesReference) {
  const ConvCase& c = cs();
  Tensor w = test::random_tensor(weight_shape(c), 21);
  Shape ys = conv_output_shape(c.x, c.cout, c.g);
  Tensor dy = test::random_tensor(ys, 22);
  ref::Array dxr = ref::conv_backward_data(ref::Array::from(dy), ref::Array::from(w), c.x, c.g);
  Tensor dx = test::garbage(*be, c.x);
  be->conv_backward_data(test::on(*be, dy), test::on(*be, w), dx, c.g);
  EXPECT_ALLCLOSE(dx, dxr.to_tensor(), kTol);
}

TEST_P(ConvOp, BackwardWeightsMatchesReference) {
  const ConvCase& c = cs();
  Tensor x = test::random_tensor(c.x, 31);
  Tensor dy = test::random_tensor(conv_output_shape(c.x, c.cout, c.g), 32);
  ref::Array dwr = ref::conv_backward_weights(ref::Array::from(x), ref::Array::from(dy),
                                              weight_shape(c), c.g);
  ref::Array dbr = ref::bias_grad(ref::Array::from(dy));
  for (bool with_bias : {false, true}) {
    SCOPED_TRACE(with_bias ? "with bias gradient" : "without bias gradient");
    Tensor dw = test::garbage(*be, weight_shape(c)), db = test::garbage(*be, Shape{c.cout});
    be->conv_backward_weights(test::on(*be, x), test::on(*be, dy), dw, with_bias ? &db : nullptr,
                              c.g);
    EXPECT_ALLCLOSE(dw, dwr.to_tensor(), kTol);
    if (with_bias) {
      EXPECT_ALLCLOSE(db, dbr.to_tensor(), kTol);
    }
  }
}

// Repeated calls reuse the cached primitives: they must read the new buffers, not the old ones.
TEST_P(ConvOp, RepeatedCallsSeeNewData) {
  const ConvCase& c = cs();
  Tensor w = test::random_tensor(weight_shape(c), 41);
  for (uint32_t seed : {42u, 43u}) {
    Tensor x = test::random_tensor(c.x, seed);
    ref::Array yr = ref::conv_forward(ref::Array::from(x), ref::Array::from(w), nullptr, c.g);
    Tensor y = test::garbage(*be, yr.shape);
    be->conv_forward(test::on(*be, x), test::on(*be, w), nullptr, y, c.g);
    EXPECT_ALLCLOSE(y, yr.to_tensor(), kTol);
  }
}

INSTANTIATE_TEST_SUITE_P(Catalogue, ConvOp,
                         ::testing::Combine(::testing::ValuesIn(test::test_devices()),
                                            ::testing::ValuesIn(test::conv_cases())),
                         case_name);

// ---- finite differences: the backend's gradients of loss = sum(conv(x, w, b) * r) against
// central differences of the same loss evaluated on the double reference. The loss is linear in
// each argument, so the differences are exact up to double rounding; the tolerance covers the
// backend's float32 gradients.
class ConvGradCheck : public ConvOp {};

TEST_P(ConvGradCheck, GradientsMatchFiniteDifferences) {
  const ConvCase& c = cs();
  Tensor x = test::random_tensor(c.x, 51), w = test::random_tensor(weight_shape(c), 52);
  Tensor b = test::random_tensor(Shape{c.cout}, 53);
  Shape ys = conv_output_shape(c.x, c.cout, c.g);
  Tensor r = test::random_tensor(ys, 54);
  ref::Array xa = ref::Array::from(x), wa = ref::Array::from(w), ba = ref::Array::from(b);
  ref::Array ra = ref::Array::from(r);
  auto loss = [&] { return test::dot(ref::conv_forward(xa, wa, &ba, c.g).v, ra.v); };
  ref::Array gx(c.x), gw(weight_shape(c)), gb(Shape{c.cout});
  gx.v = test::numeric_gradient(xa.v, loss, 1e-2);
  gw.v = test::numeric_gradient(wa.v, loss, 1e-2);
  gb.v = test::numeric_gradient(ba.v, loss, 1e-2);

  Tensor dx = test::garbage(*be, c.x), dw = test::garbage(*be, weight_shape(c));
  Tensor db = test::garbage(*be, Shape{c.cout});
  be->conv_backward_data(test::on(*be, r), test::on(*be, w), dx, c.g);
  be->conv_backward_weights(test::on(*be, x), test::on(*be, r), dw, &db, c.g);
  EXPECT_ALLCLOSE(dx, gx.to_tensor(), kTol);
  EXPECT_ALLCLOSE(dw, gw.to_tensor(), kTol);
  EXPECT_ALLCLOSE(db, gb.to_tensor(), kTol);
}

std::vector<ConvCase> grad_cases() {
  std::vector<ConvCase> out;
  for (const ConvCase& c : test::conv_cases())
    if (c.name == "2d_stride2" || c.name == "3d_stride2") out.push_back(c);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Small, ConvGradCheck,
                         ::testing::Combine(::testing::ValuesIn(test::test_devices()),
                                            ::testing::ValuesIn(grad_cases())),
                         case_name);

// ---- shape errors: the message names the op, the argument and both shapes.
using test::expect_error;

ConvGeom geom_3x3_same() {
  ConvGeom g;
  g.kernel = {1, 3, 3};
  g.pad = {0, 1, 1};
  return g;
}

TEST(ConvErrors, ForwardNamesMismatchedShapes) {
  Backend& be = *test::test_backend(Device::CPU);
  ConvGeom g = geom_3x3_same();
  Tensor x = Tensor::zeros(Shape{1, 2, 1, 7, 5}), w = Tensor::zeros(Shape{4, 3, 1, 3, 3});
  Tensor y = Tensor::zeros(Shape{1, 4, 1, 7, 5});
  expect_error([&] { be.conv_forward(x, w, nullptr, y, g); },
               "conv_forward: weight [4, 3, 1, 3, 3] expects 3 input channels, input is "
               "[1, 2, 1, 7, 5]");
  Tensor x3 = Tensor::zeros(Shape{1, 3, 1, 7, 5}), bad_y = Tensor::zeros(Shape{1, 4, 1, 7, 6});
  expect_error([&] { be.conv_forward(x3, w, nullptr, bad_y, g); },
               "conv_forward: output is [1, 4, 1, 7, 6], expected [1, 4, 1, 7, 5] for input "
               "[1, 3, 1, 7, 5], weight [4, 3, 1, 3, 3], kernel 1x3x3 stride 1x1x1 pad 0x1x1");
  Tensor bias = Tensor::zeros(Shape{5});
  expect_error([&] { be.conv_forward(x3, w, &bias, y, g); },
               "conv_forward: bias is [5], expected [4]");
  Tensor w5 = Tensor::zeros(Shape{4, 3, 1, 5, 5});
  expect_error([&] { be.conv_forward(x3, w5, nullptr, y, g); },
               "conv_forward: weight [4, 3, 1, 5, 5] does not match kernel 1x3x3");
  Tensor x2d = Tensor::zeros(Shape{1, 3, 7, 5});
  expect_error([&] { be.conv_forward(x2d, w, nullptr, y, g); },
               "conv_forward: input must be rank 5 (NCDHW), got [1, 3, 7, 5]");
}

TEST(ConvErrors, KernelLargerThanInput) {
  Backend& be = *test::test_backend(Device::CPU);
  ConvGeom g;
  g.kernel = {1, 5, 5};
  Tensor x = Tensor::zeros(Shape{1, 1, 1, 3, 8}), w = Tensor::zeros(Shape{2, 1, 1, 5, 5});
  Tensor y = Tensor::zeros(Shape{1, 2, 1, 1, 4});
  expect_error([&] { be.conv_forward(x, w, nullptr, y, g); },
               "conv_forward: kernel 1x5x5 is larger than the padded input [1, 1, 1, 3, 8]");
}

TEST(ConvErrors, BackwardNamesMismatchedShapes) {
  Backend& be = *test::test_backend(Device::CPU);
  ConvGeom g = geom_3x3_same();
  Tensor w = Tensor::zeros(Shape{4, 3, 1, 3, 3}), dx = Tensor::zeros(Shape{1, 3, 1, 7, 5});
  Tensor dy = Tensor::zeros(Shape{1, 2, 1, 7, 5});
  expect_error([&] { be.conv_backward_data(dy, w, dx, g); },
               "conv_backward_data: dy is [1, 2, 1, 7, 5], expected [1, 4, 1, 7, 5]");
  Tensor dx2 = Tensor::zeros(Shape{1, 2, 1, 7, 5});
  expect_error([&] { be.conv_backward_data(dy, w, dx2, g); },
               "conv_backward_data: weight [4, 3, 1, 3, 3] expects 3 input channels, dx is "
               "[1, 2, 1, 7, 5]");
  Tensor x = Tensor::zeros(Shape{1, 3, 1, 7, 5}), dy4 = Tensor::zeros(Shape{1, 4, 1, 7, 5});
  Tensor dw = Tensor::zeros(Shape{4, 3, 1, 3, 3}), db = Tensor::zeros(Shape{3});
  expect_error([&] { be.conv_backward_weights(x, dy4, dw, &db, g); },
               "conv_backward_weights: dbias is [3], expected [4]");
  Tensor dw_bad = Tensor::zeros(Shape{4, 2, 1, 3, 3});
  expect_error([&] { be.conv_backward_weights(x, dy4, dw_bad, nullptr, g); },
               "conv_backward_weights: dw [4, 2, 1, 3, 3] expects 2 input channels, input is "
               "[1, 3, 1, 7, 5]");
}

TEST(ConvErrors, InvalidGeometry) {
  Backend& be = *test::test_backend(Device::CPU);
  ConvGeom g = geom_3x3_same();
  g.stride = {1, 0, 1};
  Tensor x = Tensor::zeros(Shape{1, 3, 1, 7, 5}), w = Tensor::zeros(Shape{4, 3, 1, 3, 3});
  Tensor y = Tensor::zeros(Shape{1, 4, 1, 7, 5});
  expect_error([&] { be.conv_forward(x, w, nullptr, y, g); },
               "conv_forward: invalid geometry kernel 1x3x3 stride 1x0x1 pad 0x1x1");
}

}  // namespace
}  // namespace useg
