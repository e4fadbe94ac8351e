// The average-pooling cases of the op harness (tests/harness/op_case.h) vs the naive reference
// (window mean in double; backward spreads dy / volume over each window), on every case of the
// shared pooling catalogue (overlapping windows, gaps that no window reaches, anisotropic
// 1x2x2 windows as the ResEnc U-Net's skips use) plus a [1, 2, 2]-strided 3D case of U-Net
// proportions; finite differences (grad); the shape-error messages.
//
// A window's float sum of at most 27 values against the double mean: abs 1e-6 + rel 1e-6. The
// CPU loops and the CUDA kernels call the same ops/pool/pool.h functions in the same order:
// across devices kUlps (allowing a compiler that contracts differently).
#include <string>

#include "common/expect_error.h"
#include "harness/op_case.h"
#include "ops/pool/ref.h"

namespace useg::test {
namespace {

constexpr Tolerance kTol{1e-6, 1e-6};

std::vector<PoolCase> avg_cases() {
  std::vector<PoolCase> cases = pool_cases();
  PoolGeom g;
  g.kernel = g.stride = {1, 2, 2};
  cases.push_back({"3d_resenc_skip_1x2x2", Shape{2, 5, 3, 8, 6}, g});
  g.kernel = g.stride = {2, 1, 2};
  cases.push_back({"3d_aniso_2x1x2", Shape{1, 3, 4, 3, 6}, g});
  return cases;
}

void forward(OpRun& r, const PoolCase& c) {
  const Tensor x = random_tensor(c.x, 211);
  const ref::Array yr = ref::avgpool_forward(ref::Array::from(x), c.g);
  Tensor y = r.garbage(yr.shape);
  r.be().avgpool_forward(r.dev(x), y, c.g);
  r.expect("y", y, yr.to_tensor(), kTol, kUlps);
}

void backward(OpRun& r, const PoolCase& c) {
  const Tensor dy = random_tensor(pool_output_shape(c.x, c.g), 221);
  const ref::Array dxr = ref::avgpool_backward(c.x, ref::Array::from(dy), c.g);
  Tensor dx = r.garbage(c.x);  // garbage: voxels no window reaches must be written as 0
  r.be().avgpool_backward(r.dev(dy), dx, c.g);
  r.expect("dx", dx, dxr.to_tensor(), kTol, kUlps);
}

// Finite differences of loss = sum(avgpool(x) * r) on the double reference (linear in x, so the
// differences are exact up to rounding).
void gradient(OpRun& r, const PoolCase& c) {
  const Tensor x = random_tensor(c.x, 231);
  const Tensor dy = random_tensor(pool_output_shape(c.x, c.g), 232);
  const ref::Vec dyv = ref::to_vec(dy);
  const ref::Vec fd = ref::numeric_gradient(
      [&](const ref::Vec& v) {
        return ref::dot(ref::avgpool_forward(ref::Array(c.x, v), c.g).v, dyv);
      },
      ref::to_vec(x), 1e-3);
  Tensor dx = r.garbage(c.x);
  r.be().avgpool_backward(r.dev(dy), dx, c.g);
  EXPECT_ALLCLOSE(r.host(dx), ref::to_tensor(fd, c.x), (Tolerance{1e-5, 1e-5}));
}

void shape_errors(OpRun& r) {
  Backend& be = r.be();
  PoolGeom g;  // 1x2x2 / 1x2x2
  Tensor x = r.zeros(Shape{1, 3, 1, 7, 9}), y = r.zeros(Shape{1, 3, 1, 4, 4});
  expect_error([&] { be.avgpool_forward(x, y, g); },
               "avgpool_forward: output is [1, 3, 1, 4, 4], expected [1, 3, 1, 3, 4] for input "
               "[1, 3, 1, 7, 9], kernel 1x2x2 stride 1x2x2");
  Tensor dy = r.zeros(Shape{1, 2, 1, 3, 4}), dx = r.zeros(x.shape());
  expect_error([&] { be.avgpool_backward(dy, dx, g); },
               "avgpool_backward: dy is [1, 2, 1, 3, 4], expected [1, 3, 1, 3, 4] for dx "
               "[1, 3, 1, 7, 9], kernel 1x2x2 stride 1x2x2");
  g.kernel = {2, 2, 2};
  expect_error([&] { be.avgpool_forward(x, y, g); },
               "avgpool_forward: pooling window 2x2x2 is larger than the input [1, 3, 1, 7, 9]");
  g.stride = {1, 0, 2};
  expect_error([&] { be.avgpool_backward(dy, dx, g); },
               "avgpool_backward: invalid geometry kernel 2x2x2 stride 1x0x2");
}

// Perf: the ResEnc skip's 2x2 (2x2x2 in 3D) pooling, forward and backward.
OpCase avgpool_perf(bool backward_pass, bool three_d) {
  const std::string name =
      std::string("avgpool_") + (backward_pass ? "backward" : "forward") + (three_d ? "_3d" : "_2d");
  return perf_case(name, [=](Backend& be, double scale) {
    const Shape s = perf_shape(three_d, scale);
    PoolGeom g;
    if (three_d) g.kernel = g.stride = {2, 2, 2};
    const Shape ps = pool_output_shape(s, g);
    Tensor x = perf_random(be, s, 1), y = Tensor::empty(ps, be.device());
    Tensor dy = perf_random(be, ps, 7), dx = Tensor::empty(s, be.device());
    const double bytes = double(s.numel()) * 4 * 1.25;
    return PerfCall{s, bytes, [=, &be]() mutable {
                      if (backward_pass) be.avgpool_backward(dy, dx, g);
                      else be.avgpool_forward(x, y, g);
                    }};
  });
}

}  // namespace

USEG_OP_CASES(avgpool) {
  CaseList cases;
  for (const PoolCase& c : avg_cases()) {
    cases.push_back(eval_case("forward_" + c.name, [=](OpRun& r) { forward(r, c); }));
    cases.push_back(eval_case("backward_" + c.name, [=](OpRun& r) { backward(r, c); }));
    if (c.name == "2d_3x3_s2" || c.name == "3d_k2_s3_gaps" || c.name == "3d_resenc_skip_1x2x2")
      cases.push_back(grad_case("backward_" + c.name, [=](OpRun& r) { gradient(r, c); }));
  }
  cases.push_back(eval_case("shape_mismatches_are_named", shape_errors));
  for (bool three_d : {false, true})
    for (bool backward_pass : {false, true}) cases.push_back(avgpool_perf(backward_pass, three_d));
  return cases;
}

}  // namespace useg::test
