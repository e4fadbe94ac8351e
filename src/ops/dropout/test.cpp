// The dropout cases of the op harness (tests/harness/op_case.h). Dropout has no double reference:
// its mask is a pure function of (seed, element index) (ops/dropout/dropout.h), so the cases
// check what the mask must be — values 0 or 1/(1-p), y = x * mask exactly, the dropped fraction
// and mean within 5 standard deviations, determinism, independence of the thread count, and the
// first 32 bits of one stream computed independently in Python — and that every device draws
// the CPU's mask bit for bit.
#include <omp.h>

#include <cmath>
#include <string>

#include "common/expect_error.h"
#include "harness/op_case.h"
#include "ops/ref_util.h"

namespace useg::test {
namespace {

void applies_its_mask(OpRun& r, const Shape& s) {
  const Tensor x = random_tensor(s, 7);
  for (float p : {0.f, 0.3f, 0.5f, 1.f}) {
    SCOPED_TRACE("p = " + std::to_string(p));
    const float scale = p < 1.f ? 1.f / (1.f - p) : 0.f;
    Tensor y = r.garbage(s), mask = r.garbage(s);
    r.be().dropout_forward(r.dev(x), p, 1234, y, mask);
    const std::vector<float> m = r.host(mask).to_vector();
    for (float v : m) EXPECT_TRUE(v == 0.f || v == scale) << v;
    ref::Vec expected = ref::to_vec(x);
    for (size_t i = 0; i < m.size(); ++i) expected[i] *= m[i];
    r.keep("mask p=" + std::to_string(p), mask, kExact);
    r.expect("y p=" + std::to_string(p), y, ref::to_tensor(expected, s), kExact, kExact);
  }
}

std::vector<float> mask_of(OpRun& r, const Shape& s, float p, uint64_t seed) {
  Tensor x = r.dev(Tensor::full(s, 1.f)), y = r.empty(s), mask = r.empty(s);
  r.be().dropout_forward(x, p, seed, y, mask);
  return r.host(mask).to_vector();
}

// The fraction dropped is p and the mask averages to 1, within 5 standard deviations.
void mask_statistics(OpRun& r) {
  const Shape s{2, 4, 5, 100, 100};
  const double n = static_cast<double>(s.numel());
  for (float p : {0.1f, 0.5f, 0.9f}) {
    const std::vector<float> m = mask_of(r, s, p, 7);
    double dropped = 0, sum = 0;
    for (float v : m) {
      dropped += v == 0.f;
      sum += v;
    }
    EXPECT_NEAR(dropped / n, p, 5 * std::sqrt(p * (1 - p) / n)) << "p = " << p;
    EXPECT_NEAR(sum / n, 1.0, 5 * std::sqrt(p / (1 - p) / n)) << "p = " << p;
  }
}

void same_seed_same_mask(OpRun& r) {
  const Shape s{1, 3, 4, 50, 50};
  const float p = 0.5f;
  const std::vector<float> a = mask_of(r, s, p, 42), b = mask_of(r, s, p, 42);
  const std::vector<float> c = mask_of(r, s, p, 43);
  EXPECT_EQ(a, b);
  // Independent masks disagree at a rate 2p(1-p); seed 43's stream is no shifted copy of 42's.
  const double n = static_cast<double>(a.size()) - 1;
  double differ = 0, differ_shifted = 0;
  for (size_t i = 0; i + 1 < a.size(); ++i) {
    differ += a[i] != c[i];
    differ_shifted += a[i + 1] != c[i];
  }
  const double rate = 2 * p * (1 - p), tol = 5 * std::sqrt(rate * (1 - rate) / n);
  EXPECT_NEAR(differ / n, rate, tol);
  EXPECT_NEAR(differ_shifted / n, rate, tol);
}

// Pins the counter-based stream (seed 42, p = 0.5, first 32 elements): every device must draw
// exactly this mask, and a change of the hash shows up here. The bits were computed
// independently in Python: u_i = (mix(mix(42) + (i + 1) * 0x9E3779B97F4A7C15) >> 40) / 2^24 with
// splitmix64's mix, and bit i = (u_i >= 0.5).
void mask_is_pinned(OpRun& r) {
  const std::vector<float> m = mask_of(r, Shape{1, 1, 1, 1, 32}, 0.5f, 42);
  std::string bits;
  for (float v : m) bits += v != 0.f ? '1' : '0';
  EXPECT_EQ(bits, "10001000101110010001001001011001");
}

void extreme_probabilities(OpRun& r) {
  const Shape s{1, 2, 1, 9, 9};
  Tensor x = random_tensor(s, 8), y = r.empty(s), mask = r.empty(s);
  r.be().dropout_forward(r.dev(x), 0.f, 1, y, mask);
  EXPECT_ALLCLOSE(r.host(y), x, kExact);
  r.be().dropout_forward(r.dev(x), 1.f, 1, y, mask);
  EXPECT_ALLCLOSE(r.host(y), Tensor::zeros(s), kExact);
  expect_error([&] { r.be().dropout_forward(r.dev(x), 1.5f, 1, y, mask); },
               "dropout_forward: drop probability p = 1.5 must be in [0, 1]");
}

void thread_count(OpRun& r) {
  const Shape s{1, 2, 3, 60, 70};
  const int before = omp_get_max_threads();
  omp_set_num_threads(1);
  const std::vector<float> one = mask_of(r, s, 0.4f, 99);
  omp_set_num_threads(2);
  const std::vector<float> two = mask_of(r, s, 0.4f, 99);
  omp_set_num_threads(before);
  EXPECT_EQ(one, two);
}

}  // namespace

USEG_OP_CASES(dropout) {
  CaseList cases;
  for (const Shape& s : activation_shapes())
    cases.push_back(
        eval_case("applies_its_mask_" + shape_name(s), [=](OpRun& r) { applies_its_mask(r, s); }));
  cases.push_back(eval_case("mask_statistics", mask_statistics));
  cases.push_back(eval_case("same_seed_same_mask_other_seed_other_mask", same_seed_same_mask));
  cases.push_back(eval_case("mask_is_pinned", mask_is_pinned));
  cases.push_back(eval_case("extreme_probabilities", extreme_probabilities));
  cases.push_back(eval_case("does_not_depend_on_thread_count", thread_count));
  return cases;
}

}  // namespace useg::test
