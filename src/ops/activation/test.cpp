// The activation cases of the op harness (tests/harness/op_case.h), every kind on every shape of
// the catalogue: forward vs the double reference; backward vs the analytic derivative (eval)
// and vs central differences of the reference (grad); in place; PyTorch's derivative at the
// kink; saturation; the shape-error message.
//
// Tolerances: the backend computes in float, so its results carry a few float ulps of error
// (~1e-7 relative; expf/tanhf within 2 ulp). abs 1e-6 + rel 1e-5 leaves a 10x margin. The
// central differences are taken in double with h = 1e-6 on the reference (truncation ~h^2 and
// rounding ~1e-16/h, both < 1e-9), away from the ReLU kink. Across devices: selections and
// copies exact, expf / tanhf kTranscend, a backward from the same y kUlps.
#include <cmath>
#include <vector>

#include "common/expect_error.h"
#include "harness/op_case.h"
#include "ops/activation/ref.h"

namespace useg::test {
namespace {

constexpr float kAlpha = 0.01f;
constexpr Tolerance kTol{1e-6, 1e-5};

const Activation kKinds[] = {Activation::Identity, Activation::ReLU, Activation::LeakyReLU,
                             Activation::Sigmoid, Activation::Tanh};

bool transcendental(Activation a) { return a == Activation::Sigmoid || a == Activation::Tanh; }

// Inputs in [-3, 3], kept 1e-3 away from 0 so that no finite difference straddles a kink.
Tensor activation_input(const Shape& s, uint32_t seed) {
  Tensor x = random_tensor(s, seed, -3.f, 3.f);
  for (int64_t i = 0; i < x.numel(); ++i)
    if (std::fabs(x.data()[i]) < 1e-3f) x.data()[i] = 0.5f;
  return x;
}

// f(x) of the reference, rounded to float: the y a backward is given.
Tensor reference_forward(Activation a, const Tensor& x) {
  ref::Vec y = ref::to_vec(x);
  for (double& v : y) v = ref::activation(a, kAlpha, v);
  return ref::to_tensor(y, x.shape());
}

void forward(OpRun& r, Activation a, const Shape& s) {
  const Tensor x = activation_input(s, 1);
  Tensor y = r.empty(s);
  r.be().activation_forward(a, kAlpha, r.dev(x), y);
  r.expect("y", y, reference_forward(a, x), kTol, transcendental(a) ? kTranscend : kExact);
  Tensor inplace = r.dev(x);
  r.be().activation_forward(a, kAlpha, inplace, inplace);  // y aliases x
  EXPECT_ALLCLOSE(r.host(inplace), r.host(y), kExact) << "in place";
}

// dx from the reference's y (so that every device differentiates at the same y), including a
// derivative at exactly 0 (the left one, as PyTorch).
void backward(OpRun& r, Activation a, const Shape& s) {
  Tensor x = activation_input(s, 2);
  if (x.numel() > 1) x.data()[1] = 0.f;
  const Tensor dy = random_tensor(s, 3), y = reference_forward(a, x);
  Tensor dx = r.empty(s);
  r.be().activation_backward(a, kAlpha, r.dev(x), r.dev(y), r.dev(dy), dx);
  const ref::Vec xv = ref::to_vec(x), dyv = ref::to_vec(dy);
  ref::Vec analytic(xv.size());
  for (size_t i = 0; i < xv.size(); ++i)
    analytic[i] = dyv[i] * ref::activation_derivative(a, kAlpha, xv[i]);
  r.expect("dx", dx, ref::to_tensor(analytic, s), kTol, kUlps);
  Tensor grad = r.dev(dy);
  r.be().activation_backward(a, kAlpha, r.dev(x), r.dev(y), grad, grad);  // dx aliases dy
  EXPECT_ALLCLOSE(r.host(grad), r.host(dx), kExact) << "in place";
}

// The backend's own forward then backward, against central differences of the reference.
void backward_vs_finite_differences(OpRun& r, Activation a, const Shape& s) {
  const Tensor x = activation_input(s, 2), dy = random_tensor(s, 3);
  Tensor xd = r.dev(x), y = r.empty(s), dx = r.empty(s);
  r.be().activation_forward(a, kAlpha, xd, y);
  r.be().activation_backward(a, kAlpha, xd, y, r.dev(dy), dx);
  const ref::Vec xv = ref::to_vec(x), dyv = ref::to_vec(dy);
  ref::Vec numeric(xv.size());
  const double h = 1e-6;
  for (size_t i = 0; i < xv.size(); ++i)
    numeric[i] = dyv[i] *
                 (ref::activation(a, kAlpha, xv[i] + h) - ref::activation(a, kAlpha, xv[i] - h)) /
                 (2 * h);
  EXPECT_ALLCLOSE(r.host(dx), ref::to_tensor(numeric, s), kTol);
}

// PyTorch's convention at the kink: relu'(0) = 0, leaky_relu'(0) = alpha.
void derivative_at_zero(OpRun& r) {
  const Shape s{1, 1, 1, 1, 2};
  Tensor x = r.dev(Tensor::full(s, 0.f)), dy = r.dev(Tensor::full(s, 2.f)), dx = r.empty(s);
  r.be().activation_backward(Activation::ReLU, kAlpha, x, Tensor(), dy, dx);
  EXPECT_ALLCLOSE(r.host(dx).to_vector(), (std::vector<float>{0.f, 0.f}), kExact);
  r.be().activation_backward(Activation::LeakyReLU, kAlpha, x, Tensor(), dy, dx);
  EXPECT_ALLCLOSE(r.host(dx).to_vector(), (std::vector<float>{2 * kAlpha, 2 * kAlpha}), kExact);
}

// Saturated inputs give exact 0/1 (sigmoid) and +-1 (tanh), never NaN or inf.
void saturates(OpRun& r) {
  std::vector<float> v{-1000.f, -100.f, 100.f, 1000.f};
  const Shape s{1, 1, 1, 1, 4};
  Tensor x = r.dev(Tensor::wrap(v.data(), s).clone()), y = r.empty(s);
  r.be().activation_forward(Activation::Sigmoid, 0.f, x, y);
  EXPECT_ALLCLOSE(r.host(y).to_vector(), (std::vector<float>{0.f, 0.f, 1.f, 1.f}),
                  (Tolerance{1e-30, 0}));
  r.be().activation_forward(Activation::Tanh, 0.f, x, y);
  EXPECT_ALLCLOSE(r.host(y).to_vector(), (std::vector<float>{-1.f, -1.f, 1.f, 1.f}), kExact);
}

void shape_errors(OpRun& r) {
  Tensor x = r.zeros(Shape{1, 3, 1, 7, 5}), y = r.zeros(Shape{1, 3, 1, 7, 4});
  expect_error([&] { r.be().activation_forward(Activation::ReLU, 0.f, x, y); },
               "activation_forward: y [1, 3, 1, 7, 4] does not match x [1, 3, 1, 7, 5]");
  expect_error([&] { r.be().activation_backward(Activation::Sigmoid, 0.f, x, y, x, x); },
               "activation_backward: y [1, 3, 1, 7, 4] does not match dy [1, 3, 1, 7, 5]");
}

// Sign bits: the words hold exactly (t > 0) (zeros and NaN are not positive, bits past the end
// are 0), and the backward from them is activation_backward's dx bit for bit, in place too.
void sign_bits(OpRun& r, Activation a, const Shape& s) {
  Tensor x = activation_input(s, 4);
  if (x.numel() > 2) x.data()[1] = 0.f, x.data()[2] = std::nanf("");
  const Tensor dy = random_tensor(s, 5), y = reference_forward(a, x);
  Tensor bits = r.empty(Backend::sign_bits_shape(s.numel()));
  r.be().activation_sign_bits(r.dev(y), bits);
  const Tensor got = r.host(bits);
  const auto* words = reinterpret_cast<const uint32_t*>(got.data());
  for (int64_t w = 0; w < got.numel(); ++w) {
    uint32_t want = 0;
    for (int64_t i = 0; i < 32 && 32 * w + i < s.numel(); ++i)
      want |= uint32_t(y.data()[32 * w + i] > 0.f) << i;
    ASSERT_EQ(words[w], want) << "word " << w << " of " << got.numel();
  }
  Tensor want = r.empty(s), dx = r.empty(s);
  r.be().activation_backward(a, kAlpha, r.dev(x), Tensor(), r.dev(dy), want);
  r.be().activation_backward_bits(a, kAlpha, bits, r.dev(dy), dx);
  EXPECT_ALLCLOSE(r.host(dx), r.host(want), kExact) << "dx from the bits vs from x";
  Tensor grad = r.dev(dy);
  r.be().activation_backward_bits(a, kAlpha, bits, grad, grad);  // dx aliases dy
  EXPECT_ALLCLOSE(r.host(grad), r.host(want), kExact) << "in place";
}

void sign_bits_errors(OpRun& r) {
  Tensor t = r.zeros(Shape{1, 3, 1, 7, 5}), bits = r.zeros(Shape{3, 1, 1, 1, 1});
  expect_error([&] { r.be().activation_sign_bits(t, bits); },
               "activation_sign_bits: bits [3, 1, 1, 1, 1] is not [4, 1, 1, 1, 1] (32 elements a "
               "word of t [1, 3, 1, 7, 5])");
  Tensor ok = r.zeros(Backend::sign_bits_shape(t.numel()));
  expect_error([&] { r.be().activation_backward_bits(Activation::Sigmoid, 0.f, ok, t, t); },
               "activation_backward_bits: sigmoid is not differentiated from signs");
  expect_error([&] { r.be().activation_backward_bits(Activation::ReLU, 0.f, bits, t, t); },
               "activation_backward_bits: bits [3, 1, 1, 1, 1] is not [4, 1, 1, 1, 1]");
}

// Perf: leaky ReLU, the U-Net's activation, forward (x -> y) and backward (x, dy -> dx).
OpCase leaky_relu_perf(bool backward_pass, bool three_d) {
  const std::string name = std::string("leaky_relu_") + (backward_pass ? "backward" : "forward") +
                           (three_d ? "_3d" : "_2d");
  return perf_case(name, [=](Backend& be, double scale) {
    const Shape s = perf_shape(three_d, scale);
    Tensor x = perf_random(be, s, 1), dy = perf_random(be, s, 2);
    Tensor y = Tensor::empty(s, be.device()), dx = Tensor::empty(s, be.device());
    const double bytes = double(s.numel()) * 4 * (backward_pass ? 3 : 2);
    if (backward_pass)
      return PerfCall{s, bytes, [=, &be]() mutable {
                        be.activation_backward(Activation::LeakyReLU, kAlpha, x, y, dy, dx);
                      }};
    return PerfCall{s, bytes, [=, &be]() mutable {
                      be.activation_forward(Activation::LeakyReLU, kAlpha, x, y);
                    }};
  });
}

}  // namespace

USEG_OP_CASES(activation) {
  CaseList cases;
  for (Activation a : kKinds)
    for (const Shape& s : activation_shapes()) {
      const std::string tag = std::string(activation_name(a)) + "_" + shape_name(s);
      cases.push_back(eval_case("forward_" + tag, [=](OpRun& r) { forward(r, a, s); }));
      cases.push_back(eval_case("backward_" + tag, [=](OpRun& r) { backward(r, a, s); }));
      cases.push_back(grad_case("backward_" + tag, [=](OpRun& r) {
        backward_vs_finite_differences(r, a, s);
      }));
    }
  std::vector<Shape> bit_shapes = activation_shapes();
  bit_shapes.push_back(Shape{2, 16, 16, 64, 65});  // above kParallelMin: the OpenMP loops
  for (Activation a : {Activation::ReLU, Activation::LeakyReLU})
    for (const Shape& s : bit_shapes)
      cases.push_back(eval_case(std::string("sign_bits_") + activation_name(a) + "_" +
                                    shape_name(s),
                                [=](OpRun& r) { sign_bits(r, a, s); }));
  cases.push_back(eval_case("sign_bits_shape_and_kind_errors", sign_bits_errors));
  cases.push_back(eval_case("derivative_at_zero_is_the_left_one", derivative_at_zero));
  cases.push_back(eval_case("saturates_without_overflow", saturates));
  cases.push_back(eval_case("shape_mismatch_names_both_shapes", shape_errors));
  for (bool three_d : {false, true})
    for (bool backward_pass : {false, true}) cases.push_back(leaky_relu_perf(backward_pass, three_d));
  return cases;
}

}  // namespace useg::test
