// The norm cases of the op harness (tests/harness/op_case.h) on every activation shape: instance
// and batch norm forward (saved statistics, PyTorch's running-stat update over two steps,
// inference from running statistics) vs the double reference; backward vs the textbook
// chain-rule reference (eval) and vs central differences of the reference forward (grad); rows
// longer than one CUDA reduction chunk; a large mean; thread-count independence; error messages.
//
// Tolerances. Outputs are O(1) normalized values computed in float from double statistics: a few
// ulps (~1e-7) per operation, so abs 2e-5 + rel 1e-4 for y and dx. The FD gradients use h = 1e-4
// in double on f = sum(dy * y): truncation ~h^2 * |f'''| ~ 1e-8 (the groups have variance ~1/3,
// invstd ~ 2) and rounding ~1e-16 * |f| / h ~ 1e-10. dgamma and dbeta are sums of up to 4160
// float products, so abs 1e-4 + rel 1e-4. Across devices: kNorm for values, kSums for sums.
#include <omp.h>

#include <cmath>

#include "common/expect_error.h"
#include "harness/op_case.h"
#include "ops/norm/ref.h"

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
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] += float((i / s.spatial()) % s.c()) - 1.f;
  return x;
}

Tensor invstd_of(const ref::Vec& var, const Shape& s) {
  ref::Vec r(var.size());
  for (size_t i = 0; i < var.size(); ++i) r[i] = 1 / std::sqrt(var[i] + kEps);
  return ref::to_tensor(r, s);
}

const char* affine_name(bool affine) { return affine ? " (affine)" : " (no affine)"; }

void instance_forward(OpRun& r, const Shape& s) {
  const int64_t C = s.c(), groups = s.n() * C;
  const Tensor x = norm_input(s, 1);
  const Tensor gamma = random_tensor(Shape{C}, 2, 0.5f, 1.5f), beta = random_tensor(Shape{C}, 3);
  const ref::Vec xv = ref::to_vec(x), gv = ref::to_vec(gamma), bv = ref::to_vec(beta);
  for (bool affine : {false, true}) {
    const std::string a = affine_name(affine);
    Tensor gd = r.dev(gamma), bd = r.dev(beta);
    Tensor y = r.garbage(s), mean = r.garbage(Shape{groups}), invstd = r.garbage(Shape{groups});
    r.be().instance_norm_forward(r.dev(x), affine ? &gd : nullptr, affine ? &bd : nullptr, kEps,
                                 y, &mean, &invstd);
    const ref::NormForward f =
        ref::instance_norm(xv, s, affine ? &gv : nullptr, affine ? &bv : nullptr, kEps);
    r.expect("y" + a, y, ref::to_tensor(f.y, s), kTolY, kNorm);
    r.expect("mean" + a, mean, ref::to_tensor(f.mean, Shape{groups}), kTolY, kNorm);
    r.expect("invstd" + a, invstd, invstd_of(f.var, Shape{groups}), kTolY, kNorm);
  }
  // Inference may skip the saved statistics.
  Tensor y = r.garbage(s);
  r.be().instance_norm_forward(r.dev(x), nullptr, nullptr, kEps, y, nullptr, nullptr);
  r.expect("y without statistics", y,
           ref::to_tensor(ref::instance_norm(xv, s, nullptr, nullptr, kEps).y, s), kTolY, kNorm);
}

// The backend's backward after its own forward (for save_mean / save_invstd), against the
// textbook reference (fd = false) or central differences of the reference forward (fd = true,
// affine only: f = sum(dy * y(x, gamma, beta)) has exactly dx, dgamma, dbeta as gradients).
void backward(OpRun& r, const Shape& s, bool batch, bool affine, bool fd,
              const Tolerance& tol_sum = kTolSum) {
  const std::string a = affine_name(affine);
  const int64_t C = s.c(), groups = batch ? C : s.n() * C;
  const Tensor x = norm_input(s, 11), dy = random_tensor(s, 12);
  const Tensor gamma = random_tensor(Shape{C}, 13, 0.5f, 1.5f), beta = random_tensor(Shape{C}, 14);
  Tensor xd = r.dev(x), gd = r.dev(gamma), bd = r.dev(beta), y = r.empty(s);
  Tensor mean = r.empty(Shape{groups}), invstd = r.empty(Shape{groups});
  Tensor dx = r.garbage(s), dgamma = r.garbage(Shape{C}), dbeta = r.garbage(Shape{C});
  const Tensor* g = affine ? &gd : nullptr;
  const Tensor* b = affine ? &bd : nullptr;
  if (batch) {
    Tensor rm = r.zeros(Shape{C}), rv = r.dev(Tensor::full(Shape{C}, 1.f));
    r.be().batch_norm_forward_training(xd, g, b, kEps, kMomentum, rm, rv, y, mean, invstd);
    r.be().batch_norm_backward(xd, r.dev(dy), g, mean, invstd, dx, &dgamma, &dbeta);
  } else {
    r.be().instance_norm_forward(xd, g, b, kEps, y, &mean, &invstd);
    r.be().instance_norm_backward(xd, r.dev(dy), g, mean, invstd, dx, &dgamma, &dbeta);
  }
  const ref::Vec xv = ref::to_vec(x), dyv = ref::to_vec(dy);
  const ref::Vec gv = ref::to_vec(gamma), bv = ref::to_vec(beta);
  if (!fd) {
    const ref::Vec* gp = affine ? &gv : nullptr;
    const ref::NormBackward w = batch ? ref::batch_norm_backward(xv, s, dyv, gp, kEps)
                                      : ref::instance_norm_backward(xv, s, dyv, gp, kEps);
    r.expect("dx" + a, dx, ref::to_tensor(w.dx, s), kTolY, kNorm);
    r.expect("dgamma" + a, dgamma, ref::to_tensor(w.dgamma, Shape{C}), tol_sum, kSums);
    r.expect("dbeta" + a, dbeta, ref::to_tensor(w.dbeta, Shape{C}), tol_sum, kSums);
    if (batch && affine) {  // without dgamma / dbeta: the same dx
      Tensor dx2 = r.garbage(s);
      r.be().batch_norm_backward(xd, r.dev(dy), g, mean, invstd, dx2, nullptr, nullptr);
      EXPECT_ALLCLOSE(r.host(dx2), r.host(dx), kExact) << "dx without dgamma, dbeta";
    }
    return;
  }
  auto f = [&](const ref::Vec& xx, const ref::Vec& gg, const ref::Vec& bb) {
    const ref::NormForward n = batch ? ref::batch_norm_training(xx, s, &gg, &bb, kEps)
                                     : ref::instance_norm(xx, s, &gg, &bb, kEps);
    return ref::dot(dyv, n.y);
  };
  const ref::Vec fd_dx =
      ref::numeric_gradient([&](const ref::Vec& v) { return f(v, gv, bv); }, xv, kFdStep);
  const ref::Vec fd_dgamma =
      ref::numeric_gradient([&](const ref::Vec& v) { return f(xv, v, bv); }, gv, kFdStep);
  const ref::Vec fd_dbeta =
      ref::numeric_gradient([&](const ref::Vec& v) { return f(xv, gv, v); }, bv, kFdStep);
  EXPECT_ALLCLOSE(r.host(dx), ref::to_tensor(fd_dx, s), kTolY) << "dx";
  EXPECT_ALLCLOSE(r.host(dgamma), ref::to_tensor(fd_dgamma, Shape{C}), kTolSum) << "dgamma";
  EXPECT_ALLCLOSE(r.host(dbeta), ref::to_tensor(fd_dbeta, Shape{C}), kTolSum) << "dbeta";
}

// Two training steps: the running statistics accumulate (PyTorch's update, unbiased variance).
void batch_training(OpRun& r, const Shape& s) {
  const int64_t C = s.c();
  const Tensor x = norm_input(s, 4);
  const Tensor gamma = random_tensor(Shape{C}, 5, 0.5f, 1.5f), beta = random_tensor(Shape{C}, 6);
  const Tensor rm0 = random_tensor(Shape{C}, 7), rv0 = random_tensor(Shape{C}, 8, 0.5f, 1.5f);
  Tensor gd = r.dev(gamma), bd = r.dev(beta), rm = r.dev(rm0), rv = r.dev(rv0);
  Tensor y = r.garbage(s), mean = r.garbage(Shape{C}), invstd = r.garbage(Shape{C});
  if (s.n() * s.spatial() == 1) {  // PyTorch refuses too: no unbiased variance from one value
    expect_error(
        [&] {
          r.be().batch_norm_forward_training(r.dev(x), &gd, &bd, kEps, kMomentum, rm, rv, y, mean,
                                             invstd);
        },
        "batch_norm_forward_training: expected more than 1 value per channel when training");
    return;
  }
  for (int step = 0; step < 2; ++step)
    r.be().batch_norm_forward_training(r.dev(x), &gd, &bd, kEps, kMomentum, rm, rv, y, mean,
                                       invstd);
  const ref::Vec gv = ref::to_vec(gamma), bv = ref::to_vec(beta);
  const ref::NormForward f = ref::batch_norm_training(ref::to_vec(x), s, &gv, &bv, kEps);
  ref::Vec rmv = ref::to_vec(rm0), rvv = ref::to_vec(rv0);
  for (int step = 0; step < 2; ++step) ref::batch_norm_update_running(f, kMomentum, rmv, rvv);
  r.expect("y", y, ref::to_tensor(f.y, s), kTolY, kNorm);
  r.expect("mean", mean, ref::to_tensor(f.mean, Shape{C}), kTolY, kNorm);
  r.expect("invstd", invstd, invstd_of(f.var, Shape{C}), kTolY, kNorm);
  r.expect("running_mean", rm, ref::to_tensor(rmv, Shape{C}), kTolY, kNorm);
  r.expect("running_var", rv, ref::to_tensor(rvv, Shape{C}), kTolY, kNorm);
}

void batch_inference(OpRun& r, const Shape& s) {
  const int64_t C = s.c();
  const Tensor x = norm_input(s, 9);
  const Tensor gamma = random_tensor(Shape{C}, 10, 0.5f, 1.5f), beta = random_tensor(Shape{C}, 11);
  const Tensor rm = random_tensor(Shape{C}, 12), rv = random_tensor(Shape{C}, 13, 0.5f, 1.5f);
  const ref::Vec gv = ref::to_vec(gamma), bv = ref::to_vec(beta);
  for (bool affine : {false, true}) {
    Tensor gd = r.dev(gamma), bd = r.dev(beta), y = r.garbage(s);
    r.be().batch_norm_forward_inference(r.dev(x), affine ? &gd : nullptr,
                                        affine ? &bd : nullptr, r.dev(rm), r.dev(rv), kEps, y);
    const ref::Vec want =
        ref::batch_norm_inference(ref::to_vec(x), s, affine ? &gv : nullptr,
                                  affine ? &bv : nullptr, ref::to_vec(rm), ref::to_vec(rv), kEps);
    r.expect(std::string("y") + affine_name(affine), y, ref::to_tensor(want, s), kTolY, kNorm);
  }
}

// Rows longer than one CUDA reduction chunk (8192 elements), which the catalogue does not reach:
// instance rows of 12000 voxels, batch rows of 24000 values. dgamma and dbeta sum up to 24000
// products.
void longer_than_a_chunk(OpRun& r, bool batch) {
  const Shape s{2, 3, 4, 50, 60};
  if (batch) batch_training(r, s);
  else instance_forward(r, s);
  backward(r, s, batch, true, false, Tolerance{1e-3, 1e-4});
}

// |mean| / std = 100: the two-pass variance keeps full precision (one-pass E[x^2] - E[x]^2 in
// float would lose it). y is then limited by the float mean: ~100 * 6e-8 relative.
void large_mean(OpRun& r) {
  const Shape s{2, 3, 2, 9, 7};
  Tensor x = random_tensor(s, 21);
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = 100.f + x.data()[i];
  Tensor y = r.garbage(s);
  r.be().instance_norm_forward(r.dev(x), nullptr, nullptr, kEps, y, nullptr, nullptr);
  const ref::Vec want = ref::instance_norm(ref::to_vec(x), s, nullptr, nullptr, kEps).y;
  EXPECT_ALLCLOSE(r.host(y), ref::to_tensor(want, s), (Tolerance{5e-5, 1e-4}));
}

// Fixed-chunk reductions: 1, 2 or 3 threads give bit-identical results. The shape has more
// voxels than one CPU reduction chunk (4096) so the chunks really are split across threads.
void thread_count(OpRun& r) {
  const Shape s{2, 3, 4, 40, 41};
  Tensor x = r.dev(norm_input(s, 22)), dy = r.dev(random_tensor(s, 23));
  Tensor gamma = r.dev(random_tensor(Shape{3}, 24, 0.5f, 1.5f));
  Tensor beta = r.dev(random_tensor(Shape{3}, 25));
  auto run = [&](int threads) {
    const int before = omp_get_max_threads();
    omp_set_num_threads(threads);
    Tensor y = r.empty(s), m = r.empty(Shape{6}), is = r.empty(Shape{6}), dx = r.empty(s);
    Tensor dg = r.empty(Shape{3}), db = r.empty(Shape{3});
    r.be().instance_norm_forward(x, &gamma, &beta, kEps, y, &m, &is);
    r.be().instance_norm_backward(x, dy, &gamma, m, is, dx, &dg, &db);
    Tensor rm = r.zeros(Shape{3}), rv = r.zeros(Shape{3}), by = r.empty(s);
    Tensor bm = r.empty(Shape{3}), bi = r.empty(Shape{3}), bdx = r.empty(s);
    Tensor bdg = r.empty(Shape{3}), bdb = r.empty(Shape{3});
    r.be().batch_norm_forward_training(x, &gamma, &beta, kEps, kMomentum, rm, rv, by, bm, bi);
    r.be().batch_norm_backward(x, dy, &gamma, bm, bi, bdx, &bdg, &bdb);
    omp_set_num_threads(before);
    return std::vector<Tensor>{y, m, is, dx, dg, db, rm, rv, by, bm, bi, bdx, bdg, bdb};
  };
  const std::vector<Tensor> one = run(1);
  for (int threads : {2, 3}) {
    const std::vector<Tensor> many = run(threads);
    for (size_t i = 0; i < one.size(); ++i)
      EXPECT_ALLCLOSE(r.host(many[i]), r.host(one[i]), kExact)
          << "output " << i << ", " << threads << " threads";
  }
}

void shape_errors(OpRun& r) {
  const Shape s{1, 4, 1, 7, 5};
  Tensor x = r.zeros(s), y = r.zeros(s);
  Tensor g3 = r.zeros(Shape{3}), g4 = r.zeros(Shape{4}), m3 = r.zeros(Shape{3});
  Backend& be = r.be();
  expect_error([&] { be.instance_norm_forward(x, &g3, nullptr, kEps, y, nullptr, nullptr); },
               "instance_norm_forward: gamma [3] does not match 4 channels of x [1, 4, 1, 7, 5]");
  expect_error([&] { be.instance_norm_forward(x, &g4, &g3, kEps, y, nullptr, nullptr); },
               "instance_norm_forward: beta [3] does not match 4 channels of x [1, 4, 1, 7, 5]");
  expect_error([&] { be.instance_norm_forward(x, nullptr, nullptr, kEps, y, &m3, nullptr); },
               "instance_norm_forward: save_mean [3] must be [4] (N*C)");
  Tensor y_bad = r.zeros(Shape{1, 4, 1, 7, 6});
  expect_error([&] { be.instance_norm_forward(x, nullptr, nullptr, kEps, y_bad, nullptr, nullptr); },
               "instance_norm_forward: y [1, 4, 1, 7, 6] does not match x [1, 4, 1, 7, 5]");
  expect_error([&] { be.batch_norm_backward(x, y_bad, nullptr, g4, g4, y, nullptr, nullptr); },
               "batch_norm_backward: dy [1, 4, 1, 7, 6] does not match x [1, 4, 1, 7, 5]");
  expect_error([&] { be.batch_norm_backward(x, y, nullptr, g4, g4, y, &g3, nullptr); },
               "batch_norm_backward: dgamma [3] does not match 4 channels of x [1, 4, 1, 7, 5]");
  expect_error([&] { be.batch_norm_forward_inference(x, nullptr, nullptr, g4, g3, kEps, y); },
               "batch_norm_forward_inference: running_var [3] does not match 4 channels of x");
  Tensor rank4 = r.zeros(Shape{4, 7, 5, 1});
  expect_error([&] { be.instance_norm_forward(rank4, nullptr, nullptr, kEps, y, nullptr, nullptr); },
               "instance_norm_forward: x [4, 7, 5, 1] must be rank 5 (N, C, D, H, W)");
}

// Perf: instance norm forward (reads x twice for the statistics, writes y) and backward.
OpCase instance_norm_perf(bool backward_pass, bool three_d) {
  const std::string name = std::string("instance_norm_") +
                           (backward_pass ? "backward" : "forward") + (three_d ? "_3d" : "_2d");
  return perf_case(name, [=](Backend& be, double scale) {
    const Shape s = perf_shape(three_d, scale);
    const Device d = be.device();
    const Shape cs{s.c()}, gs{s.n() * s.c()};
    Tensor x = perf_random(be, s, 1), dy = perf_random(be, s, 2), y = Tensor::empty(s, d);
    Tensor dx = Tensor::empty(s, d), gamma = perf_random(be, cs, 5), beta = perf_random(be, cs, 6);
    Tensor mean = Tensor::empty(gs, d), invstd = Tensor::empty(gs, d);
    Tensor dgamma = Tensor::empty(cs, d), dbeta = Tensor::empty(cs, d);
    be.instance_norm_forward(x, &gamma, &beta, kEps, y, &mean, &invstd);
    const double bytes = double(s.numel()) * 4 * (backward_pass ? 5 : 3);
    return PerfCall{s, bytes, [=, &be]() mutable {
                      if (backward_pass)
                        be.instance_norm_backward(x, dy, &gamma, mean, invstd, dx, &dgamma,
                                                  &dbeta);
                      else
                        be.instance_norm_forward(x, &gamma, &beta, kEps, y, &mean, &invstd);
                    }};
  });
}

}  // namespace

USEG_OP_CASES(norm) {
  CaseList cases;
  for (const Shape& s : activation_shapes()) {
    const std::string tag = shape_name(s);
    const bool batch_ok = s.n() * s.spatial() > 1;  // batch norm training needs 2 values
    cases.push_back(eval_case("instance_forward_" + tag, [=](OpRun& r) { instance_forward(r, s); }));
    cases.push_back(eval_case("instance_backward_" + tag, [=](OpRun& r) {
      backward(r, s, false, false, false);
      backward(r, s, false, true, false);
    }));
    cases.push_back(eval_case("batch_training_" + tag, [=](OpRun& r) { batch_training(r, s); }));
    cases.push_back(eval_case("batch_inference_" + tag, [=](OpRun& r) { batch_inference(r, s); }));
    cases.push_back(
        grad_case("instance_backward_" + tag, [=](OpRun& r) { backward(r, s, false, true, true); }));
    if (!batch_ok) continue;
    cases.push_back(eval_case("batch_backward_" + tag, [=](OpRun& r) {
      backward(r, s, true, false, false);
      backward(r, s, true, true, false);
    }));
    cases.push_back(
        grad_case("batch_backward_" + tag, [=](OpRun& r) { backward(r, s, true, true, true); }));
  }
  cases.push_back(eval_case("instance_longer_than_a_reduction_chunk",
                            [](OpRun& r) { longer_than_a_chunk(r, false); }));
  cases.push_back(eval_case("batch_longer_than_a_reduction_chunk",
                            [](OpRun& r) { longer_than_a_chunk(r, true); }));
  cases.push_back(eval_case("large_mean_keeps_precision", large_mean));
  cases.push_back(eval_case("results_do_not_depend_on_thread_count", thread_count));
  cases.push_back(eval_case("shape_mismatches_are_named", shape_errors));
  for (bool three_d : {false, true})
    for (bool backward_pass : {false, true})
      cases.push_back(instance_norm_perf(backward_pass, three_d));
  return cases;
}

}  // namespace useg::test
