// The max-pooling cases of the op harness (tests/harness/op_case.h) vs the naive reference (window
// max, gradient to the first maximum), on every case of the shared catalogue with continuous
// inputs and with tie-heavy inputs (ReLU-like: many zeros, so whole windows are equal); finite
// differences (grad); the shape-error messages.
//
// The forward is a selection and the backward a sum of at most a handful of dy values per element
// (overlapping windows), so results should be exact or within a few float ulps; abs 1e-6 +
// rel 1e-6 says so, and any wrong routing is off by a whole dy value, O(0.1). Across devices:
// the forward exactly, the backward kUlps.
#include <algorithm>
#include <random>
#include <string>

#include "common/expect_error.h"
#include "harness/op_case.h"
#include "ops/pool/ref.h"

namespace useg::test {
namespace {

constexpr Tolerance kTol{1e-6, 1e-6};

// ReLU-like values: about half exact zeros, the rest from {0.5, 1, 1.5}: windows of equal
// values, where only the first maximum may receive the gradient.
Tensor tie_heavy_tensor(const Shape& s, uint32_t seed) {
  Tensor t = Tensor::empty(s);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(-3, 3);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data()[i] = 0.5f * static_cast<float>(std::max(0, u(rng)));
  return t;
}

void forward(OpRun& r, const PoolCase& c, const Tensor& x) {
  const ref::Array yr = ref::maxpool_forward(ref::Array::from(x), c.g);
  Tensor y = r.garbage(yr.shape);
  r.be().maxpool_forward(r.dev(x), y, c.g);
  r.expect("y", y, yr.to_tensor(), kTol, kExact);
}

void backward(OpRun& r, const PoolCase& c, const Tensor& x) {
  const Tensor dy = random_tensor(pool_output_shape(c.x, c.g), 101);
  const ref::Array dxr = ref::maxpool_backward(ref::Array::from(x), ref::Array::from(dy), c.g);
  Tensor dx = r.garbage(c.x);
  r.be().maxpool_backward(r.dev(x), r.dev(dy), dx, c.g);
  r.expect("dx", dx, dxr.to_tensor(), kTol, kUlps);
}

// The training path: the offsets of the maxima, then the backward from them, gives the reference
// dx and exactly the backend's own maxpool_backward from x (ties to the first maximum too).
void backward_from_offsets(OpRun& r, const PoolCase& c, const Tensor& x) {
  const Shape ys = pool_output_shape(c.x, c.g);
  const Tensor dy = random_tensor(ys, 141);
  const ref::Array dxr = ref::maxpool_backward(ref::Array::from(x), ref::Array::from(dy), c.g);
  Tensor offsets = r.garbage(Backend::maxpool_offsets_shape(ys.numel()));
  r.be().maxpool_offsets(r.dev(x), offsets, c.g);
  Tensor dx = r.garbage(c.x), want = r.garbage(c.x);
  r.be().maxpool_backward_offsets(offsets, r.dev(dy), dx, c.g);
  r.expect("dx", dx, dxr.to_tensor(), kTol, kUlps);
  r.be().maxpool_backward(r.dev(x), r.dev(dy), want, c.g);
  EXPECT_ALLCLOSE(r.host(dx), r.host(want), kExact) << "from the offsets vs from x";
}

void offsets_errors(OpRun& r) {
  Backend& be = r.be();
  PoolGeom g;  // 1x2x2 / 1x2x2: outputs [1, 3, 1, 3, 4] = 36 bytes = 9 floats
  Tensor x = r.zeros(Shape{1, 3, 1, 7, 9}), bad = r.zeros(Shape{8, 1, 1, 1, 1});
  expect_error([&] { be.maxpool_offsets(x, bad, g); },
               "maxpool_offsets: offsets [8, 1, 1, 1, 1] is not [9, 1, 1, 1, 1] (one byte per "
               "output of [1, 3, 1, 3, 4])");
  Tensor dy = r.zeros(Shape{1, 3, 1, 3, 4}), dx = r.zeros(x.shape());
  expect_error([&] { be.maxpool_backward_offsets(bad, dy, dx, g); },
               "maxpool_backward_offsets: offsets [8, 1, 1, 1, 1] is not [9, 1, 1, 1, 1]");
  PoolGeom big;
  big.kernel = big.stride = {1, 16, 17};
  Tensor wide = r.zeros(Shape{1, 1, 1, 16, 17}), one = r.zeros(Shape{1, 1, 1, 1, 1});
  expect_error([&] { be.maxpool_offsets(wide, one, big); },
               "maxpool_offsets: a window of 272 voxels (kernel 1x16x17 stride 1x16x17) does not "
               "fit a one-byte offset (at most 256)");
}

// Finite differences of loss = sum(maxpool(x) * r) on the double reference. Inputs are a shuffled
// ramp with steps of 0.01 and h = 1e-3, so no perturbation changes a window's argmax and the
// (piecewise linear) loss is differentiated exactly.
void gradient(OpRun& r, const PoolCase& c) {
  Tensor x = Tensor::empty(c.x);
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = 0.01f * static_cast<float>(i);
  std::shuffle(x.data(), x.data() + x.numel(), std::mt19937(131));
  const Tensor dy = random_tensor(pool_output_shape(c.x, c.g), 132);
  const ref::Vec dyv = ref::to_vec(dy);
  const ref::Vec fd = ref::numeric_gradient(
      [&](const ref::Vec& v) {
        return ref::dot(ref::maxpool_forward(ref::Array(c.x, v), c.g).v, dyv);
      },
      ref::to_vec(x), 1e-3);
  Tensor dx = r.garbage(c.x);
  r.be().maxpool_backward(r.dev(x), r.dev(dy), dx, c.g);
  // The differences divide by 2h: allow for double rounding of the ramp values (~1e-16 / 1e-3).
  EXPECT_ALLCLOSE(r.host(dx), ref::to_tensor(fd, c.x), (Tolerance{1e-5, 1e-5}));
}

void shape_errors(OpRun& r) {
  Backend& be = r.be();
  PoolGeom g;  // 1x2x2 / 1x2x2
  Tensor x = r.zeros(Shape{1, 3, 1, 7, 9}), y = r.zeros(Shape{1, 3, 1, 4, 4});
  expect_error([&] { be.maxpool_forward(x, y, g); },
               "maxpool_forward: output is [1, 3, 1, 4, 4], expected [1, 3, 1, 3, 4] for input "
               "[1, 3, 1, 7, 9], kernel 1x2x2 stride 1x2x2");
  Tensor dy = r.zeros(Shape{1, 3, 1, 3, 4}), dx = r.zeros(Shape{1, 3, 1, 7, 8});
  expect_error([&] { be.maxpool_backward(x, dy, dx, g); },
               "maxpool_backward: dx is [1, 3, 1, 7, 8], expected [1, 3, 1, 7, 9]");
  Tensor dy_bad = r.zeros(Shape{1, 2, 1, 3, 4}), dx_ok = r.zeros(x.shape());
  expect_error([&] { be.maxpool_backward(x, dy_bad, dx_ok, g); },
               "maxpool_backward: dy is [1, 2, 1, 3, 4], expected [1, 3, 1, 3, 4]");
}

void window_larger_than_input(OpRun& r) {
  Backend& be = r.be();
  PoolGeom g;
  g.kernel = {2, 2, 2};
  g.stride = {2, 2, 2};
  Tensor x = r.zeros(Shape{1, 1, 1, 4, 4}), y = r.zeros(Shape{1, 1, 1, 2, 2});
  expect_error([&] { be.maxpool_forward(x, y, g); },
               "maxpool_forward: pooling window 2x2x2 is larger than the input [1, 1, 1, 4, 4]");
  g.stride = {1, 0, 2};
  expect_error([&] { be.maxpool_forward(x, y, g); },
               "maxpool_forward: invalid geometry kernel 2x2x2 stride 1x0x2");
}

// Perf: the U-Net's pooling (2x2, or 2x2x2 in 3D) forward and backward.
OpCase maxpool_perf(bool backward_pass, bool three_d) {
  const std::string name =
      std::string("maxpool_") + (backward_pass ? "backward" : "forward") + (three_d ? "_3d" : "_2d");
  return perf_case(name, [=](Backend& be, double scale) {
    const Shape s = perf_shape(three_d, scale);
    PoolGeom g;
    if (three_d) g.kernel = g.stride = {2, 2, 2};
    const Shape ps = pool_output_shape(s, g);
    Tensor x = perf_random(be, s, 1), y = Tensor::empty(ps, be.device());
    Tensor dy = perf_random(be, ps, 7), dx = Tensor::empty(s, be.device());
    const double bytes = double(s.numel()) * 4 * (backward_pass ? 2.25 : 1.25);
    return PerfCall{s, bytes, [=, &be]() mutable {
                      if (backward_pass) be.maxpool_backward(x, dy, dx, g);
                      else be.maxpool_forward(x, y, g);
                    }};
  });
}

}  // namespace

USEG_OP_CASES(pool) {
  CaseList cases;
  for (const PoolCase& c : pool_cases()) {
    cases.push_back(eval_case("forward_" + c.name,
                              [=](OpRun& r) { forward(r, c, random_tensor(c.x, 111)); }));
    cases.push_back(eval_case("forward_ties_" + c.name,
                              [=](OpRun& r) { forward(r, c, tie_heavy_tensor(c.x, 112)); }));
    cases.push_back(eval_case("backward_" + c.name,
                              [=](OpRun& r) { backward(r, c, random_tensor(c.x, 121)); }));
    cases.push_back(eval_case("backward_ties_to_the_first_maximum_" + c.name,
                              [=](OpRun& r) { backward(r, c, tie_heavy_tensor(c.x, 122)); }));
    cases.push_back(eval_case("backward_from_offsets_" + c.name, [=](OpRun& r) {
      backward_from_offsets(r, c, random_tensor(c.x, 142));
    }));
    cases.push_back(eval_case("backward_from_offsets_ties_" + c.name, [=](OpRun& r) {
      backward_from_offsets(r, c, tie_heavy_tensor(c.x, 143));
    }));
    if (c.name == "2d_3x3_s2" || c.name == "3d_odd_2x2x2")
      cases.push_back(grad_case("backward_" + c.name, [=](OpRun& r) { gradient(r, c); }));
  }
  PoolCase large{"3d_2x2x2_parallel", Shape{2, 16, 16, 64, 64}, PoolGeom{}};
  large.g.kernel = large.g.stride = {2, 2, 2};  // above kParallelMin: the OpenMP loops
  cases.push_back(eval_case("backward_from_offsets_" + large.name, [=](OpRun& r) {
    backward_from_offsets(r, large, random_tensor(large.x, 144));
  }));
  cases.push_back(eval_case("offsets_errors_are_named", offsets_errors));
  cases.push_back(eval_case("shape_mismatches_are_named", shape_errors));
  cases.push_back(eval_case("window_larger_than_input", window_larger_than_input));
  for (bool three_d : {false, true})
    for (bool backward_pass : {false, true}) cases.push_back(maxpool_perf(backward_pass, three_d));
  return cases;
}

}  // namespace useg::test
