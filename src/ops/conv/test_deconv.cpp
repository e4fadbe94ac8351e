// Transposed convolution on every backend vs the naive double-precision reference (a scatter of
// each input times the kernel), on every case of the shared catalogue; a hand-computed check of
// the [Ci, Co, k...] weight order; a finite-difference gradient check; shape-error messages.
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

namespace useg {
namespace {

using test::ConvCase;

// As for convolution: each output sums at most a few hundred float products of values in
// [-1, 1] (largest error observed ~5e-6), so abs 1e-4 + rel 1e-4 has margin yet catches any
// misplaced tap or transposed weight, which is off by O(0.1).
constexpr test::Tolerance kTol{1e-4, 1e-4};

Shape weight_shape(const ConvCase& c) {  // [Ci, Co, kD, kH, kW]
  return {c.x[1], c.cout, c.g.kernel[0], c.g.kernel[1], c.g.kernel[2]};
}

class DeconvOp : public ::testing::TestWithParam<std::tuple<Device, ConvCase>> {
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

TEST_P(DeconvOp, ForwardMatchesReference) {
  const ConvCase& c = cs();
  Tensor x = test::random_tensor(c.x, 61), w = test::random_tensor(weight_shape(c), 62);
  Tensor b = test::random_tensor(Shape{c.cout}, 63);
  for (bool with_bias : {false, true}) {
    SCOPED_TRACE(with_bias ? "with bias" : "without bias");
    ref::Array ba = ref::Array::from(b);
    ref::Array yr = ref::deconv_forward(ref::Array::from(x), ref::Array::from(w),
                                        with_bias ? &ba : nullptr, c.g);
    Tensor bd = test::on(*be, b);
    Tensor y = test::garbage(*be, yr.shape);
    be->deconv_forward(test::on(*be, x), test::on(*be, w), with_bias ? &bd : nullptr, y, c.g);
    EXPECT_ALLCLOSE(y, yr.to_tensor(), kTol);
  }
}

TEST_P(DeconvOp, BackwardDataMatchesReference) {
  const ConvCase& c = cs();
  Tensor w = test::random_tensor(weight_shape(c), 71);
  Tensor dy = test::random_tensor(deconv_output_shape(c.x, c.cout, c.g), 72);
  ref::Array dxr =
      ref::deconv_backward_data(ref::Array::from(dy), ref::Array::from(w), c.x, c.g);
  Tensor dx = test::garbage(*be, c.x);
  be->deconv_backward_data(test::on(*be, dy), test::on(*be, w), dx, c.g);
  EXPECT_ALLCLOSE(dx, dxr.to_tensor(), kTol);
}

TEST_P(DeconvOp, BackwardWeightsMatchesReference) {
  const ConvCase& c = cs();
  Tensor x = test::random_tensor(c.x, 81);
  Tensor dy = test::random_tensor(deconv_output_shape(c.x, c.cout, c.g), 82);
  ref::Array dwr = ref::deconv_backward_weights(ref::Array::from(x), ref::Array::from(dy),
                                                weight_shape(c), c.g);
  ref::Array dbr = ref::bias_grad(ref::Array::from(dy));
  for (bool with_bias : {false, true}) {
    SCOPED_TRACE(with_bias ? "with bias gradient" : "without bias gradient");
    Tensor dw = test::garbage(*be, weight_shape(c)), db = test::garbage(*be, Shape{c.cout});
    be->deconv_backward_weights(test::on(*be, x), test::on(*be, dy), dw,
                                with_bias ? &db : nullptr, c.g);
    EXPECT_ALLCLOSE(dw, dwr.to_tensor(), kTol);
    if (with_bias) {
      EXPECT_ALLCLOSE(db, dbr.to_tensor(), kTol);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Catalogue, DeconvOp,
                         ::testing::Combine(::testing::ValuesIn(test::test_devices()),
                                            ::testing::ValuesIn(test::deconv_cases())),
                         case_name);

// ---- the weight order, by hand: PyTorch's ConvTranspose weight is [Ci, Co, k...].
class DeconvWeightOrder : public ::testing::TestWithParam<Device> {};

TEST_P(DeconvWeightOrder, IsInputChannelsThenOutputChannels) {
  std::string why;
  Backend* be = test::test_backend(GetParam(), &why);
  if (!be) GTEST_SKIP() << why;
  ConvGeom g;
  g.kernel = {1, 1, 2};
  g.stride = {1, 1, 2};
  // Two input channels (1 and 10) at one pixel, three output channels, kernel width 2:
  // y[co, k] = 1 * w[0, co, k] + 10 * w[1, co, k].
  float xv[2] = {1.f, 10.f};
  float wv[12] = {1, 2, 3, 4, 5, 6,  // w[0, co, k] for co = 0..2, k = 0..1
                  7, 8, 9, 10, 11, 12};
  Tensor x = Tensor::wrap(xv, Shape{1, 2, 1, 1, 1}), w = Tensor::wrap(wv, Shape{2, 3, 1, 1, 2});
  Tensor y = test::garbage(*be, Shape{1, 3, 1, 1, 2});
  be->deconv_forward(test::on(*be, x), test::on(*be, w), nullptr, y, g);
  EXPECT_TRUE(test::allclose(y.to_vector(), {71, 82, 93, 104, 115, 126}));
}

INSTANTIATE_TEST_SUITE_P(Devices, DeconvWeightOrder, ::testing::ValuesIn(test::test_devices()),
                         [](const auto& info) { return std::string(device_name(info.param)); });

// ---- finite differences of loss = sum(deconv(x, w, b) * r) on the double reference.
class DeconvGradCheck : public DeconvOp {};

TEST_P(DeconvGradCheck, GradientsMatchFiniteDifferences) {
  const ConvCase& c = cs();
  Tensor x = test::random_tensor(c.x, 91), w = test::random_tensor(weight_shape(c), 92);
  Tensor b = test::random_tensor(Shape{c.cout}, 93);
  Tensor r = test::random_tensor(deconv_output_shape(c.x, c.cout, c.g), 94);
  ref::Array xa = ref::Array::from(x), wa = ref::Array::from(w), ba = ref::Array::from(b);
  ref::Array ra = ref::Array::from(r);
  auto loss = [&] { return test::dot(ref::deconv_forward(xa, wa, &ba, c.g).v, ra.v); };
  ref::Array gx(c.x), gw(weight_shape(c)), gb(Shape{c.cout});
  gx.v = test::numeric_gradient(xa.v, loss, 1e-2);
  gw.v = test::numeric_gradient(wa.v, loss, 1e-2);
  gb.v = test::numeric_gradient(ba.v, loss, 1e-2);

  Tensor dx = test::garbage(*be, c.x), dw = test::garbage(*be, weight_shape(c));
  Tensor db = test::garbage(*be, Shape{c.cout});
  be->deconv_backward_data(test::on(*be, r), test::on(*be, w), dx, c.g);
  be->deconv_backward_weights(test::on(*be, x), test::on(*be, r), dw, &db, c.g);
  EXPECT_ALLCLOSE(dx, gx.to_tensor(), kTol);
  EXPECT_ALLCLOSE(dw, gw.to_tensor(), kTol);
  EXPECT_ALLCLOSE(db, gb.to_tensor(), kTol);
}

std::vector<ConvCase> grad_cases() {
  std::vector<ConvCase> out;
  for (const ConvCase& c : test::deconv_cases())
    if (c.name == "2d_k3s2p1" || c.name == "3d_k2s2") out.push_back(c);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Small, DeconvGradCheck,
                         ::testing::Combine(::testing::ValuesIn(test::test_devices()),
                                            ::testing::ValuesIn(grad_cases())),
                         case_name);

// ---- shape errors
using test::expect_error;

ConvGeom geom_k2s2() {
  ConvGeom g;
  g.kernel = {1, 2, 2};
  g.stride = {1, 2, 2};
  return g;
}

TEST(DeconvErrors, ForwardNamesMismatchedShapes) {
  Backend& be = *test::test_backend(Device::CPU);
  ConvGeom g = geom_k2s2();
  Tensor x = Tensor::zeros(Shape{1, 4, 1, 3, 5}), w = Tensor::zeros(Shape{3, 2, 1, 2, 2});
  Tensor y = Tensor::zeros(Shape{1, 2, 1, 6, 10});
  expect_error([&] { be.deconv_forward(x, w, nullptr, y, g); },
               "deconv_forward: weight [3, 2, 1, 2, 2] (Ci, Co, k...) expects 3 input channels, "
               "input is [1, 4, 1, 3, 5]");
  Tensor w4 = Tensor::zeros(Shape{4, 2, 1, 2, 2}), bad_y = Tensor::zeros(Shape{1, 2, 1, 6, 9});
  expect_error([&] { be.deconv_forward(x, w4, nullptr, bad_y, g); },
               "deconv_forward: output is [1, 2, 1, 6, 9], expected [1, 2, 1, 6, 10] for input "
               "[1, 4, 1, 3, 5], weight [4, 2, 1, 2, 2], kernel 1x2x2 stride 1x2x2 pad 0x0x0");
  Tensor bias = Tensor::zeros(Shape{4});
  expect_error([&] { be.deconv_forward(x, w4, &bias, y, g); },
               "deconv_forward: bias is [4], expected [2]");
}

TEST(DeconvErrors, BackwardNamesMismatchedShapes) {
  Backend& be = *test::test_backend(Device::CPU);
  ConvGeom g = geom_k2s2();
  Tensor w = Tensor::zeros(Shape{4, 2, 1, 2, 2}), dx = Tensor::zeros(Shape{1, 4, 1, 3, 5});
  Tensor dy = Tensor::zeros(Shape{1, 2, 1, 6, 11});
  expect_error([&] { be.deconv_backward_data(dy, w, dx, g); },
               "deconv_backward_data: dy is [1, 2, 1, 6, 11], expected [1, 2, 1, 6, 10]");
  Tensor x = Tensor::zeros(Shape{1, 4, 1, 3, 5}), dy_ok = Tensor::zeros(Shape{1, 2, 1, 6, 10});
  Tensor dw = Tensor::zeros(Shape{4, 2, 1, 3, 3});
  expect_error([&] { be.deconv_backward_weights(x, dy_ok, dw, nullptr, g); },
               "deconv_backward_weights: dw [4, 2, 1, 3, 3] does not match kernel 1x2x2");
}

}  // namespace
}  // namespace useg
