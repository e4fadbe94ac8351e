// Instance norm and batch norm: forward (incl. saved statistics and PyTorch's running-stat
// update) vs the double reference, backward vs the textbook chain-rule reference and vs central
// differences of the reference forward (dx, dgamma, dbeta), on every activation shape.
//
// Tolerances. Outputs are O(1) normalized values computed in float from double statistics:
// a few ulps (~1e-7) per operation, so abs 2e-5 + rel 1e-4 for y and dx. The FD gradients use
// h = 1e-4 in double on f = sum(dy * y): truncation ~h^2 * |f'''| ~ 1e-8 (the groups have
// variance ~1/3, invstd ~ 2) and rounding ~1e-16 * |f| / h ~ 1e-10. dgamma and dbeta are sums of
// up to 4160 float products, so abs 1e-4 + rel 1e-4.
#include <omp.h>

#include <cmath>

#include "unit/op_test_util.h"

namespace useg::test {
namespace {

constexpr float kEps = 1e-5f;
constexpr float kMomentum = 0.1f;
constexpr Tolerance kTolY{2e-5, 1e-4};
constexpr Tolerance kTolSum{1e-4, 1e-4};
constexpr double kFdStep = 1e-4;

// x with channel c shifted by c - 1, so that means differ from 0 and between channels.
Tensor norm_input(const Shape& s, uint32_t seed) {
  Tensor x = random_tensor(s, seed);
  for (int64_t n = 0; n < s.n(); ++n)
    for (int64_t c = 0; c < s.c(); ++c)
      for (int64_t v = 0; v < s.spatial(); ++v)
        x.data()[(n * s.c() + c) * s.spatial() + v] += c - 1.f;
  return x;
}

ref::Vec invstd_of(const ref::Vec& var) {
  ref::Vec r(var.size());
  for (size_t i = 0; i < var.size(); ++i) r[i] = 1 / std::sqrt(var[i] + kEps);
  return r;
}

double dot(const ref::Vec& a, const ref::Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

class NormTest : public OpParamTest<Shape> {
 protected:
  // Runs the backend backward (after its own forward, for save_mean / save_invstd) and compares
  // dx, dgamma, dbeta with the textbook reference and, when affine, with central differences.
  void check_backward(bool batch, bool affine) {
    SCOPED_TRACE(affine ? "affine" : "no affine");
    const Shape s = GetParam();
    const int64_t C = s.c(), groups = batch ? C : s.n() * C;
    Tensor x = norm_input(s, 11), dy = random_tensor(s, 12);
    Tensor gamma = random_tensor(Shape{C}, 13, 0.5f, 1.5f), beta = random_tensor(Shape{C}, 14);
    Tensor xd = dev(x), gd = dev(gamma), bd = dev(beta), y = dev_empty(s);
    Tensor mean = dev_empty(Shape{groups}), invstd = dev_empty(Shape{groups});
    Tensor dx = dev_empty(s), dgamma = dev_empty(Shape{C}), dbeta = dev_empty(Shape{C});
    const Tensor* g = affine ? &gd : nullptr;
    const Tensor* b = affine ? &bd : nullptr;
    if (batch) {
      Tensor rm = dev_zeros(Shape{C}), rv = dev(Tensor::full(Shape{C}, 1.f));
      be().batch_norm_forward_training(xd, g, b, kEps, kMomentum, rm, rv, y, mean, invstd);
      be().batch_norm_backward(xd, dev(dy), g, mean, invstd, dx, &dgamma, &dbeta);
    } else {
      be().instance_norm_forward(xd, g, b, kEps, y, &mean, &invstd);
      be().instance_norm_backward(xd, dev(dy), g, mean, invstd, dx, &dgamma, &dbeta);
    }

    const ref::Vec xv = ref::to_vec(x), dyv = ref::to_vec(dy);
    const ref::Vec gv = ref::to_vec(gamma), bv = ref::to_vec(beta);
    const ref::Vec* gp = affine ? &gv : nullptr;
    const ref::NormBackward r = batch ? ref::batch_norm_backward(xv, s, dyv, gp, kEps)
                                      : ref::instance_norm_backward(xv, s, dyv, gp, kEps);
    EXPECT_ALLCLOSE(host(dx), ref::to_tensor(r.dx, s), kTolY);
    EXPECT_ALLCLOSE(host(dgamma), ref::to_tensor(r.dgamma, Shape{C}), kTolSum);
    EXPECT_ALLCLOSE(host(dbeta), ref::to_tensor(r.dbeta, Shape{C}), kTolSum);
    if (!affine) return;

    // f = sum(dy * y(x, gamma, beta)); its gradients are exactly dx, dgamma, dbeta.
    auto forward = [&](const ref::Vec& xx, const ref::Vec& gg, const ref::Vec& bb) {
      const ref::NormForward f = batch ? ref::batch_norm_training(xx, s, &gg, &bb, kEps)
                                       : ref::instance_norm(xx, s, &gg, &bb, kEps);
      return dot(dyv, f.y);
    };
    const ref::Vec fd_dx =
        ref::numeric_gradient([&](const ref::Vec& xx) { return forward(xx, gv, bv); }, xv, kFdStep);
    const ref::Vec fd_dgamma =
        ref::numeric_gradient([&](const ref::Vec& gg) { return forward(xv, gg, bv); }, gv, kFdStep);
    const ref::Vec fd_dbeta =
        ref::numeric_gradient([&](const ref::Vec& bb) { return forward(xv, gv, bb); }, bv, kFdStep);
    EXPECT_ALLCLOSE(host(dx), ref::to_tensor(fd_dx, s), kTolY);
    EXPECT_ALLCLOSE(host(dgamma), ref::to_tensor(fd_dgamma, Shape{C}), kTolSum);
    EXPECT_ALLCLOSE(host(dbeta), ref::to_tensor(fd_dbeta, Shape{C}), kTolSum);
  }
};

TEST_P(NormTest, InstanceNormForwardMatchesReference) {
  const Shape s = GetParam();
  const int64_t C = s.c(), groups = s.n() * C;
  Tensor x = norm_input(s, 1);
  Tensor gamma = random_tensor(Shape{C}, 2, 0.5f, 1.5f), beta = random_tensor(Shape{C}, 3);
  const ref::Vec xv = ref::to_vec(x), gv = ref::to_vec(gamma), bv = ref::to_vec(beta);
  for (bool affine : {false, true}) {
    SCOPED_TRACE(affine ? "affine" : "no affine");
    Tensor gd = dev(gamma), bd = dev(beta);
    Tensor y = dev_empty(s), mean = dev_empty(Shape{groups}), invstd = dev_empty(Shape{groups});
    be().instance_norm_forward(dev(x), affine ? &gd : nullptr, affine ? &bd : nullptr, kEps, y,
                               &mean, &invstd);
    const ref::NormForward r =
        ref::instance_norm(xv, s, affine ? &gv : nullptr, affine ? &bv : nullptr, kEps);
    EXPECT_ALLCLOSE(host(y), ref::to_tensor(r.y, s), kTolY);
    EXPECT_ALLCLOSE(host(mean), ref::to_tensor(r.mean, Shape{groups}), kTolY);
    EXPECT_ALLCLOSE(host(invstd), ref::to_tensor(invstd_of(r.var), Shape{groups}), kTolY);
  }
  // Inference may skip the saved statistics.
  Tensor y = dev_empty(s);
  be().instance_norm_forward(dev(x), nullptr, nullptr, kEps, y, nullptr, nullptr);
  EXPECT_ALLCLOSE(host(y), ref::to_tensor(ref::instance_norm(xv, s, nullptr, nullptr, kEps).y, s),
                  kTolY);
}

TEST_P(NormTest, InstanceNormBackwardMatchesReferenceAndFiniteDifferences) {
  check_backward(false, false);
  check_backward(false, true);
}

TEST_P(NormTest, BatchNormTrainingMatchesReferenceAndUpdatesRunningStats) {
  const Shape s = GetParam();
  const int64_t C = s.c();
  Tensor x = norm_input(s, 4);
  Tensor gamma = random_tensor(Shape{C}, 5, 0.5f, 1.5f), beta = random_tensor(Shape{C}, 6);
  Tensor rm0 = random_tensor(Shape{C}, 7), rv0 = random_tensor(Shape{C}, 8, 0.5f, 1.5f);
  Tensor gd = dev(gamma), bd = dev(beta), rm = dev(rm0.clone()), rv = dev(rv0.clone());
  Tensor y = dev_empty(s), mean = dev_empty(Shape{C}), invstd = dev_empty(Shape{C});
  if (s.n() * s.spatial() == 1) {  // PyTorch refuses too: no unbiased variance from one value
    expect_error(
        [&] {
          be().batch_norm_forward_training(dev(x), &gd, &bd, kEps, kMomentum, rm, rv, y, mean,
                                           invstd);
        },
        "batch_norm_forward_training: expected more than 1 value per channel when training");
    return;
  }
  be().batch_norm_forward_training(dev(x), &gd, &bd, kEps, kMomentum, rm, rv, y, mean, invstd);

  const ref::Vec gv = ref::to_vec(gamma), bv = ref::to_vec(beta);
  const ref::NormForward r = ref::batch_norm_training(ref::to_vec(x), s, &gv, &bv, kEps);
  ref::Vec rmv = ref::to_vec(rm0), rvv = ref::to_vec(rv0);
  ref::batch_norm_update_running(r, kMomentum, rmv, rvv);
  EXPECT_ALLCLOSE(host(y), ref::to_tensor(r.y, s), kTolY);
  EXPECT_ALLCLOSE(host(mean), ref::to_tensor(r.mean, Shape{C}), kTolY);
  EXPECT_ALLCLOSE(host(invstd), ref::to_tensor(invstd_of(r.var), Shape{C}), kTolY);
  EXPECT_ALLCLOSE(host(rm), ref::to_tensor(rmv, Shape{C}), kTolY);
  EXPECT_ALLCLOSE(host(rv), ref::to_tensor(rvv, Shape{C}), kTolY);
}

TEST_P(NormTest, BatchNormInferenceMatchesReference) {
  const Shape s = GetParam();
  const int64_t C = s.c();
  Tensor x = norm_input(s, 9);
  Tensor gamma = random_tensor(Shape{C}, 10, 0.5f, 1.5f), beta = random_tensor(Shape{C}, 11);
  Tensor rm = random_tensor(Shape{C}, 12), rv = random_tensor(Shape{C}, 13, 0.5f, 1.5f);
  const ref::Vec gv = ref::to_vec(gamma), bv = ref::to_vec(beta);
  for (bool affine : {false, true}) {
    SCOPED_TRACE(affine ? "affine" : "no affine");
    Tensor gd = dev(gamma), bd = dev(beta), y = dev_empty(s);
    be().batch_norm_forward_inference(dev(x), affine ? &gd : nullptr, affine ? &bd : nullptr,
                                      dev(rm), dev(rv), kEps, y);
    const ref::Vec expected =
        ref::batch_norm_inference(ref::to_vec(x), s, affine ? &gv : nullptr, affine ? &bv : nullptr,
                                  ref::to_vec(rm), ref::to_vec(rv), kEps);
    EXPECT_ALLCLOSE(host(y), ref::to_tensor(expected, s), kTolY);
  }
}

TEST_P(NormTest, BatchNormBackwardMatchesReferenceAndFiniteDifferences) {
  const Shape s = GetParam();
  if (s.n() * s.spatial() == 1) GTEST_SKIP() << "batch norm training needs 2 values per channel";
  check_backward(true, false);
  check_backward(true, true);
}

INSTANTIATE_TEST_SUITE_P(Shapes, NormTest, ::testing::ValuesIn(activation_shapes()),
                         shape_param_name);

class NormEdgeTest : public OpTest {};

// |mean| / std = 100: the two-pass variance keeps full precision (one-pass E[x^2] - E[x]^2 in
// float would lose it). y is then limited by the float mean: ~100 * 6e-8 relative.
TEST_F(NormEdgeTest, LargeMeanKeepsPrecision) {
  const Shape s{2, 3, 2, 9, 7};
  Tensor x = random_tensor(s, 21);
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = 100.f + x.data()[i];
  Tensor y = dev_empty(s);
  be().instance_norm_forward(dev(x), nullptr, nullptr, kEps, y, nullptr, nullptr);
  const ref::Vec expected = ref::instance_norm(ref::to_vec(x), s, nullptr, nullptr, kEps).y;
  EXPECT_ALLCLOSE(host(y), ref::to_tensor(expected, s), Tolerance{5e-5, 1e-4});
}

// Fixed-chunk reductions: 1, 2 or 3 threads give bit-identical results. The shape has more
// voxels than one reduction chunk (4096) so the chunks really are split across threads.
TEST_F(NormEdgeTest, ResultsDoNotDependOnThreadCount) {
  const Shape s{2, 3, 4, 40, 41};
  Tensor x = dev(norm_input(s, 22)), dy = dev(random_tensor(s, 23));
  Tensor gamma = dev(random_tensor(Shape{3}, 24, 0.5f, 1.5f)),
         beta = dev(random_tensor(Shape{3}, 25));
  auto run = [&](int threads) {
    const int before = omp_get_max_threads();
    omp_set_num_threads(threads);
    std::vector<Tensor> out;
    Tensor y = dev_empty(s), m = dev_empty(Shape{6}), is = dev_empty(Shape{6}), dx = dev_empty(s);
    Tensor dg = dev_empty(Shape{3}), db = dev_empty(Shape{3});
    be().instance_norm_forward(x, &gamma, &beta, kEps, y, &m, &is);
    be().instance_norm_backward(x, dy, &gamma, m, is, dx, &dg, &db);
    out.insert(out.end(), {y, m, is, dx, dg, db});
    Tensor rm = dev_zeros(Shape{3}), rv = dev_zeros(Shape{3}), by = dev_empty(s);
    Tensor bm = dev_empty(Shape{3}), bi = dev_empty(Shape{3}), bdx = dev_empty(s);
    Tensor bdg = dev_empty(Shape{3}), bdb = dev_empty(Shape{3});
    be().batch_norm_forward_training(x, &gamma, &beta, kEps, kMomentum, rm, rv, by, bm, bi);
    be().batch_norm_backward(x, dy, &gamma, bm, bi, bdx, &bdg, &bdb);
    out.insert(out.end(), {rm, rv, by, bm, bi, bdx, bdg, bdb});
    omp_set_num_threads(before);
    return out;
  };
  const std::vector<Tensor> one = run(1);
  for (int threads : {2, 3}) {
    const std::vector<Tensor> many = run(threads);
    for (size_t i = 0; i < one.size(); ++i)
      EXPECT_ALLCLOSE(host(many[i]), host(one[i]), Tolerance{0, 0})
          << "output " << i << ", " << threads << " threads";
  }
}

TEST_F(NormEdgeTest, ShapeMismatchesAreNamed) {
  const Shape s{1, 4, 1, 7, 5};
  Tensor x = dev_zeros(s), y = dev_zeros(s);
  Tensor g3 = dev_zeros(Shape{3}), g4 = dev_zeros(Shape{4}), m3 = dev_zeros(Shape{3});
  expect_error([&] { be().instance_norm_forward(x, &g3, nullptr, kEps, y, nullptr, nullptr); },
               "instance_norm_forward: gamma [3] does not match 4 channels of x [1, 4, 1, 7, 5]");
  expect_error([&] { be().instance_norm_forward(x, &g4, &g3, kEps, y, nullptr, nullptr); },
               "instance_norm_forward: beta [3] does not match 4 channels of x [1, 4, 1, 7, 5]");
  expect_error([&] { be().instance_norm_forward(x, nullptr, nullptr, kEps, y, &m3, nullptr); },
               "instance_norm_forward: save_mean [3] must be [4] (N*C)");
  Tensor y_bad = dev_zeros(Shape{1, 4, 1, 7, 6});
  expect_error(
      [&] { be().instance_norm_forward(x, nullptr, nullptr, kEps, y_bad, nullptr, nullptr); },
      "instance_norm_forward: y [1, 4, 1, 7, 6] does not match x [1, 4, 1, 7, 5]");
  expect_error([&] { be().batch_norm_backward(x, y_bad, nullptr, g4, g4, y, nullptr, nullptr); },
               "batch_norm_backward: dy [1, 4, 1, 7, 6] does not match x [1, 4, 1, 7, 5]");
  expect_error([&] { be().batch_norm_backward(x, y, nullptr, g4, g4, y, &g3, nullptr); },
               "batch_norm_backward: dgamma [3] does not match 4 channels of x [1, 4, 1, 7, 5]");
  expect_error([&] { be().batch_norm_forward_inference(x, nullptr, nullptr, g4, g3, kEps, y); },
               "batch_norm_forward_inference: running_var [3] does not match 4 channels of x");
  Tensor rank4 = dev_zeros(Shape{4, 7, 5, 1});
  expect_error(
      [&] { be().instance_norm_forward(rank4, nullptr, nullptr, kEps, y, nullptr, nullptr); },
      "instance_norm_forward: x [4, 7, 5, 1] must be rank 5 (N, C, D, H, W)");
}

}  // namespace
}  // namespace useg::test
