// Activations: forward vs the double reference, backward vs the analytic derivative and vs
// central differences of the reference, on every activation shape.
//
// Tolerances: the backend computes in float, so its results carry a few float ulps of error
// (~1e-7 relative; expf/tanhf within 2 ulp). abs 1e-6 + rel 1e-5 leaves a 10x margin. The
// central differences are taken in double with h = 1e-6 on the reference (truncation ~h^2 and
// rounding ~1e-16/h, both < 1e-9), away from the ReLU kink.
#include <cmath>
#include <tuple>

#include "unit/op_test_util.h"

namespace useg::test {
namespace {

constexpr float kAlpha = 0.01f;
constexpr Tolerance kTol{1e-6, 1e-5};

using ActParam = std::tuple<Activation, Shape>;

std::string act_param_name(const ::testing::TestParamInfo<ActParam>& info) {
  return std::string(activation_name(std::get<0>(info.param))) + "_" +
         shape_name(std::get<1>(info.param));
}

// Inputs in [-3, 3], kept 1e-3 away from 0 so that no finite difference straddles a kink.
Tensor activation_input(const Shape& s, uint32_t seed) {
  Tensor x = random_tensor(s, seed, -3.f, 3.f);
  for (int64_t i = 0; i < x.numel(); ++i)
    if (std::fabs(x.data()[i]) < 1e-3f) x.data()[i] = 0.5f;
  return x;
}

class ActivationTest : public OpParamTest<ActParam> {};

TEST_P(ActivationTest, ForwardMatchesReference) {
  const auto [a, s] = GetParam();
  Tensor x = activation_input(s, 1);
  Tensor y = dev_empty(s);
  be().activation_forward(a, kAlpha, dev(x), y);
  ref::Vec expected = ref::to_vec(x);
  for (double& v : expected) v = ref::activation(a, kAlpha, v);
  EXPECT_ALLCLOSE(host(y), ref::to_tensor(expected, s), kTol);
}

TEST_P(ActivationTest, BackwardMatchesDerivativeAndFiniteDifferences) {
  const auto [a, s] = GetParam();
  Tensor x = activation_input(s, 2);
  Tensor dy = random_tensor(s, 3);
  Tensor xd = dev(x), y = dev_empty(s), dx = dev_empty(s);
  be().activation_forward(a, kAlpha, xd, y);
  be().activation_backward(a, kAlpha, xd, y, dev(dy), dx);

  const ref::Vec xv = ref::to_vec(x), dyv = ref::to_vec(dy);
  ref::Vec analytic(xv.size()), numeric(xv.size());
  const double h = 1e-6;
  for (size_t i = 0; i < xv.size(); ++i) {
    analytic[i] = dyv[i] * ref::activation_derivative(a, kAlpha, xv[i]);
    numeric[i] = dyv[i] *
                 (ref::activation(a, kAlpha, xv[i] + h) - ref::activation(a, kAlpha, xv[i] - h)) /
                 (2 * h);
  }
  EXPECT_ALLCLOSE(host(dx), ref::to_tensor(analytic, s), kTol);
  EXPECT_ALLCLOSE(host(dx), ref::to_tensor(numeric, s), kTol);
}

TEST_P(ActivationTest, InPlaceMatchesOutOfPlace) {
  const auto [a, s] = GetParam();
  Tensor x = activation_input(s, 4);
  Tensor dy = random_tensor(s, 5);
  Tensor y = dev_empty(s), dx = dev_empty(s);
  be().activation_forward(a, kAlpha, dev(x), y);
  be().activation_backward(a, kAlpha, dev(x), y, dev(dy), dx);

  Tensor inplace = dev(x.clone());
  be().activation_forward(a, kAlpha, inplace, inplace);  // y aliases x
  EXPECT_ALLCLOSE(host(inplace), host(y), Tolerance{0, 0});
  Tensor grad = dev(dy.clone());
  be().activation_backward(a, kAlpha, dev(x), y, grad, grad);  // dx aliases dy
  EXPECT_ALLCLOSE(host(grad), host(dx), Tolerance{0, 0});
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ActivationTest,
    ::testing::Combine(::testing::Values(Activation::Identity, Activation::ReLU,
                                         Activation::LeakyReLU, Activation::Sigmoid,
                                         Activation::Tanh),
                       ::testing::ValuesIn(activation_shapes())),
    act_param_name);

class ActivationEdgeTest : public OpTest {};

// PyTorch's convention at the kink: relu'(0) = 0, leaky_relu'(0) = alpha.
TEST_F(ActivationEdgeTest, DerivativeAtZeroIsTheLeftOne) {
  const Shape s{1, 1, 1, 1, 2};
  Tensor x = dev(Tensor::full(s, 0.f)), dy = dev(Tensor::full(s, 2.f)), dx = dev_empty(s);
  be().activation_backward(Activation::ReLU, kAlpha, x, Tensor(), dy, dx);
  EXPECT_ALLCLOSE(host(dx).to_vector(), (std::vector<float>{0.f, 0.f}), Tolerance{0, 0});
  be().activation_backward(Activation::LeakyReLU, kAlpha, x, Tensor(), dy, dx);
  EXPECT_ALLCLOSE(host(dx).to_vector(), (std::vector<float>{2 * kAlpha, 2 * kAlpha}),
                  Tolerance{0, 0});
}

// Saturated inputs give exact 0/1 (sigmoid) and +-1 (tanh), never NaN or inf.
TEST_F(ActivationEdgeTest, SaturatesWithoutOverflow) {
  std::vector<float> v{-1000.f, -100.f, 100.f, 1000.f};
  const Shape s{1, 1, 1, 1, 4};
  Tensor x = dev(Tensor::wrap(v.data(), s).clone()), y = dev_empty(s);
  be().activation_forward(Activation::Sigmoid, 0.f, x, y);
  EXPECT_ALLCLOSE(host(y).to_vector(), (std::vector<float>{0.f, 0.f, 1.f, 1.f}),
                  Tolerance{1e-30, 0});
  be().activation_forward(Activation::Tanh, 0.f, x, y);
  EXPECT_ALLCLOSE(host(y).to_vector(), (std::vector<float>{-1.f, -1.f, 1.f, 1.f}), Tolerance{0, 0});
}

TEST_F(ActivationEdgeTest, ShapeMismatchNamesBothShapes) {
  Tensor x = dev_zeros(Shape{1, 3, 1, 7, 5}), y = dev_zeros(Shape{1, 3, 1, 7, 4});
  expect_error([&] { be().activation_forward(Activation::ReLU, 0.f, x, y); },
               "activation_forward: y [1, 3, 1, 7, 4] does not match x [1, 3, 1, 7, 5]");
  expect_error([&] { be().activation_backward(Activation::Sigmoid, 0.f, x, y, x, x); },
               "activation_backward: y [1, 3, 1, 7, 4] does not match dy [1, 3, 1, 7, 5]");
}

}  // namespace
}  // namespace useg::test
