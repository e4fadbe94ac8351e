// The elementwise cases of the op harness (tests/harness/op_case.h) on every activation shape:
// fill, copy, add, mul, axpy, scale (also in place), sum_squares and all_finite vs the double
// loops of ref.cpp; sum_squares' thread-count independence and a row longer than one CUDA
// reduction chunk; the shape-error messages.
//
// Tolerances: add/mul/scale round once (rel 1e-7 of the exact double result, abs 0); axpy may
// round twice with cancellation (abs 1e-7 + rel 1e-6); sum_squares accumulates exact float
// squares in double (rel 1e-12); copies and fills are exact. Across devices: add/mul exact,
// axpy/scale kUlps (a device may fuse the multiply-add).
#include <omp.h>

#include <limits>

#include "common/expect_error.h"
#include "harness/op_case.h"
#include "ops/elementwise/ref.h"

namespace useg::test {
namespace {

constexpr Tolerance kOneRounding{0, 1e-7};

void fill_and_copy(OpRun& r, const Shape& s) {
  Tensor t = r.garbage(s);
  r.be().fill(t, 2.5f);
  r.expect("fill", t, Tensor::full(s, 2.5f), kExact, kExact);
  const Tensor x = random_tensor(s, 1);
  Tensor dst = r.garbage(s);
  r.be().copy(r.dev(x), dst);
  r.expect("copy", dst, x, kExact, kExact);
}

void arithmetic(OpRun& r, const Shape& s) {
  const Tensor a = random_tensor(s, 2), b = random_tensor(s, 3);
  const ref::Vec av = ref::to_vec(a), bv = ref::to_vec(b);
  Tensor y = r.garbage(s);
  r.be().add(r.dev(a), r.dev(b), y);
  r.expect("add", y, ref::to_tensor(ref::add(av, bv), s), kOneRounding, kExact);
  r.be().mul(r.dev(a), r.dev(b), y);
  r.expect("mul", y, ref::to_tensor(ref::mul(av, bv), s), kOneRounding, kExact);
  Tensor acc = r.dev(b);
  r.be().axpy(-0.75f, r.dev(a), acc);
  r.expect("axpy", acc, ref::to_tensor(ref::axpy(-0.75, av, bv), s), Tolerance{1e-7, 1e-6},
           kUlps);
  Tensor sc = r.dev(a);
  r.be().scale(sc, 3.f);
  r.expect("scale", sc, ref::to_tensor(ref::scale(av, 3), s), kOneRounding, kUlps);
  Tensor alias = r.dev(a);  // y may alias an input
  r.be().add(alias, r.dev(b), alias);
  r.expect("add in place", alias, ref::to_tensor(ref::add(av, bv), s), kOneRounding, kExact);
}

void sum_squares_and_all_finite(OpRun& r, const Shape& s) {
  const Tensor x = random_tensor(s, 4);
  r.expect_value("sum_squares", r.be().sum_squares(r.dev(x)), ref::sum_squares(ref::to_vec(x)),
                 Tolerance{0, 1e-12}, Tolerance{0, 1e-12});
  EXPECT_TRUE(r.be().all_finite(r.dev(x)));
  for (int64_t at : {int64_t(0), x.numel() / 2, x.numel() - 1})
    for (float bad : {std::numeric_limits<float>::quiet_NaN(),
                      std::numeric_limits<float>::infinity(),
                      -std::numeric_limits<float>::infinity()}) {
      Tensor y = x.clone();
      y.data()[at] = bad;
      EXPECT_FALSE(r.be().all_finite(r.dev(y))) << bad << " at " << at;
    }
}

// sum_squares reduces fixed chunks in order: 1, 2 or 3 threads give the same double, bit for bit.
void sum_squares_thread_count(OpRun& r) {
  Tensor x = r.dev(random_tensor(Shape{2, 3, 5, 70, 90}, 11));
  const int before = omp_get_max_threads();
  omp_set_num_threads(1);
  const double one = r.be().sum_squares(x);
  omp_set_num_threads(2);
  const double two = r.be().sum_squares(x);
  omp_set_num_threads(3);
  const double three = r.be().sum_squares(x);
  omp_set_num_threads(before);
  EXPECT_EQ(one, two);
  EXPECT_EQ(one, three);
}

// 72000 values: more than one chunk of the CUDA row reduction (cuda/host/launch_config.h: 8192),
// which the shape catalogue does not reach.
void sum_squares_long_row(OpRun& r) {
  const Tensor x = random_tensor(Shape{2, 3, 4, 50, 60}, 21);
  r.expect_value("sum_squares", r.be().sum_squares(r.dev(x)), ref::sum_squares(ref::to_vec(x)),
                 Tolerance{0, 1e-12}, Tolerance{0, 1e-12});
}

void shape_errors(OpRun& r) {
  Tensor a = r.zeros(Shape{1, 3, 1, 7, 5}), b = r.zeros(Shape{1, 2, 1, 7, 5});
  expect_error([&] { r.be().add(a, b, a); },
               "add: b [1, 2, 1, 7, 5] does not match a [1, 3, 1, 7, 5]");
  expect_error([&] { r.be().copy(a, b); },
               "copy: dst [1, 2, 1, 7, 5] does not match src [1, 3, 1, 7, 5]");
}

}  // namespace

USEG_OP_CASES(elementwise) {
  CaseList cases;
  for (const Shape& s : activation_shapes()) {
    const std::string tag = shape_name(s);
    cases.push_back(eval_case("fill_copy_" + tag, [=](OpRun& r) { fill_and_copy(r, s); }));
    cases.push_back(eval_case("add_mul_axpy_scale_" + tag, [=](OpRun& r) { arithmetic(r, s); }));
    cases.push_back(eval_case("sum_squares_all_finite_" + tag,
                              [=](OpRun& r) { sum_squares_and_all_finite(r, s); }));
  }
  cases.push_back(eval_case("sum_squares_does_not_depend_on_thread_count",
                            sum_squares_thread_count));
  cases.push_back(eval_case("sum_squares_longer_than_a_reduction_chunk", sum_squares_long_row));
  cases.push_back(eval_case("shape_mismatches_are_named", shape_errors));
  return cases;
}

}  // namespace useg::test
