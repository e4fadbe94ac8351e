// Global average pooling in the op harness (tests/harness/op_case.h): forward and backward vs the
// naive double reference on the shared catalogue of activation shapes, finite differences of
// the composition (grad), the shape errors, and its perf at U-Net bottleneck sizes.
//
// The forward is a mean taken in double and rounded once, the backward one float division per
// element: abs 1e-6 + rel 1e-6 (kUlps) against the reference and across devices.
#include "common/expect_error.h"
#include "harness/op_case.h"
#include "ops/global_pool/ref.h"

namespace useg::test {
namespace {

Shape pooled(const Shape& x) { return Shape{x[0], x[1], 1, 1, 1}; }

void forward(OpRun& r, const Shape& xs) {
  const Tensor x = random_tensor(xs, 7, -3.f, 5.f);
  Tensor y = r.garbage(pooled(xs));
  r.be().global_avg_pool_forward(r.dev(x), y);
  r.expect("y", y, ref::global_avg_pool_forward(ref::Array::from(x)).to_tensor(), kUlps, kUlps);
}

void backward(OpRun& r, const Shape& xs) {
  const Tensor dy = random_tensor(pooled(xs), 8);
  Tensor dx = r.garbage(xs);
  r.be().global_avg_pool_backward(r.dev(dy), dx);
  r.expect("dx", dx, ref::global_avg_pool_backward(ref::Array::from(dy), xs).to_tensor(), kUlps,
           kUlps);
}

// loss = sum(global_avg_pool(x) * dy): the backward of dy against central differences of the
// reference forward (linear: the differences are exact to double rounding).
void gradient(OpRun& r, const Shape& xs) {
  const Tensor x = random_tensor(xs, 11), dy = random_tensor(pooled(xs), 12);
  const ref::Vec dyv = ref::to_vec(dy);
  const ref::Vec fd = ref::numeric_gradient(
      [&](const ref::Vec& v) {
        return ref::dot(ref::global_avg_pool_forward(ref::Array(xs, v)).v, dyv);
      },
      ref::to_vec(x), 1e-3);
  Tensor dx = r.garbage(xs);
  r.be().global_avg_pool_backward(r.dev(dy), dx);
  EXPECT_ALLCLOSE(r.host(dx), ref::to_tensor(fd, xs), (Tolerance{1e-6, 1e-6}));
}

void shape_errors(OpRun& r) {
  Backend& be = r.be();
  Tensor x = r.zeros(Shape{2, 3, 1, 4, 5}), bad = r.zeros(Shape{2, 3, 1, 1, 2});
  expect_error([&] { be.global_avg_pool_forward(x, bad); },
               "global_avg_pool_forward: y is [2, 3, 1, 1, 2], expected [2, 3, 1, 1, 1] for x "
               "[2, 3, 1, 4, 5]");
  Tensor dy = r.zeros(Shape{2, 4, 1, 1, 1});
  expect_error([&] { be.global_avg_pool_backward(dy, x); },
               "global_avg_pool_backward: dy is [2, 4, 1, 1, 1], expected [2, 3, 1, 1, 1] for dx "
               "[2, 3, 1, 4, 5]");
}

OpCase perf(bool backward_pass, bool three_d) {
  const std::string name = std::string("global_avg_pool_") +
                           (backward_pass ? "backward" : "forward") + (three_d ? "_3d" : "_2d");
  return perf_case(name, [=](Backend& be, double scale) {
    const Shape s = perf_shape(three_d, scale);
    Tensor x = perf_random(be, s, 1), y = Tensor::empty(pooled(s), be.device());
    Tensor dy = perf_random(be, pooled(s), 2), dx = Tensor::empty(s, be.device());
    return PerfCall{s, double(s.numel()) * 4, [=, &be]() mutable {
                      if (backward_pass) be.global_avg_pool_backward(dy, dx);
                      else be.global_avg_pool_forward(x, y);
                    }};
  });
}

}  // namespace

USEG_OP_CASES(global_pool) {
  CaseList cases;
  for (const Shape& s : activation_shapes()) {
    cases.push_back(eval_case("forward_" + shape_name(s), [=](OpRun& r) { forward(r, s); }));
    cases.push_back(eval_case("backward_" + shape_name(s), [=](OpRun& r) { backward(r, s); }));
  }
  for (const Shape& s : {Shape{2, 3, 1, 4, 5}, Shape{1, 2, 3, 2, 4}})
    cases.push_back(grad_case("backward_" + shape_name(s), [=](OpRun& r) { gradient(r, s); }));
  cases.push_back(eval_case("shape_mismatches_are_named", shape_errors));
  for (bool three_d : {false, true})
    for (bool backward_pass : {false, true}) cases.push_back(perf(backward_pass, three_d));
  return cases;
}

}  // namespace useg::test
