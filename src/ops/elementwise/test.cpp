// Elementwise ops, channel concat/split and dropout on every activation shape, vs the obvious
// double loops; dropout's mask statistics and determinism.
//
// Tolerances: add/mul round once (rel 1e-7 of the exact double result, abs 0); axpy may round
// twice with cancellation (abs 1e-7 + rel 1e-6); sum_squares accumulates exact float squares in
// double (rel 1e-12); copies, fills, concat/split and dropout's x * mask are exact.
#include <omp.h>

#include <cmath>
#include <limits>
#include <string>

#include "unit/op_test_util.h"

namespace useg::test {
namespace {

constexpr Tolerance kExact{0, 0};

ref::Vec zip(const Tensor& a, const Tensor& b, double (*f)(double, double)) {
  ref::Vec av = ref::to_vec(a), bv = ref::to_vec(b), r(av.size());
  for (size_t i = 0; i < av.size(); ++i) r[i] = f(av[i], bv[i]);
  return r;
}

class ElementwiseTest : public OpParamTest<Shape> {};

TEST_P(ElementwiseTest, FillAndCopy) {
  const Shape s = GetParam();
  Tensor t = dev_empty(s);
  be().fill(t, 2.5f);
  EXPECT_ALLCLOSE(host(t), Tensor::full(s, 2.5f), kExact);
  Tensor x = random_tensor(s, 1), dst = dev_empty(s);
  be().copy(dev(x), dst);
  EXPECT_ALLCLOSE(host(dst), x, kExact);
}

TEST_P(ElementwiseTest, AddMulAxpyScale) {
  const Shape s = GetParam();
  Tensor a = random_tensor(s, 2), b = random_tensor(s, 3), y = dev_empty(s);
  be().add(dev(a), dev(b), y);
  EXPECT_ALLCLOSE(host(y), ref::to_tensor(zip(a, b, [](double p, double q) { return p + q; }), s),
                  Tolerance{0, 1e-7});
  be().mul(dev(a), dev(b), y);
  EXPECT_ALLCLOSE(host(y), ref::to_tensor(zip(a, b, [](double p, double q) { return p * q; }), s),
                  Tolerance{0, 1e-7});
  Tensor acc = dev(b.clone());
  be().axpy(-0.75f, dev(a), acc);
  EXPECT_ALLCLOSE(host(acc),
                  ref::to_tensor(zip(a, b, [](double p, double q) { return -0.75 * p + q; }), s),
                  Tolerance{1e-7, 1e-6});
  Tensor sc = dev(a.clone());
  be().scale(sc, 3.f);
  EXPECT_ALLCLOSE(host(sc), ref::to_tensor(zip(a, a, [](double p, double) { return 3 * p; }), s),
                  Tolerance{0, 1e-7});
  // y may alias an input.
  Tensor alias = dev(a.clone());
  be().add(alias, dev(b), alias);
  EXPECT_ALLCLOSE(host(alias),
                  ref::to_tensor(zip(a, b, [](double p, double q) { return p + q; }), s),
                  Tolerance{0, 1e-7});
}

TEST_P(ElementwiseTest, SumSquaresAndAllFinite) {
  const Shape s = GetParam();
  Tensor x = random_tensor(s, 4);
  double expected = 0;
  for (double v : ref::to_vec(x)) expected += v * v;
  EXPECT_NEAR(be().sum_squares(dev(x)), expected, 1e-12 * expected);
  EXPECT_TRUE(be().all_finite(dev(x)));
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    Tensor y = x.clone();
    y.data()[y.numel() - 1] = bad;
    EXPECT_FALSE(be().all_finite(dev(y))) << bad;
  }
}

TEST_P(ElementwiseTest, ConcatAndSplitChannels) {
  const Shape sa = GetParam();
  const Shape sb{sa.n(), sa.c() % 3 + 1, sa.d(), sa.h(), sa.w()};
  const Shape sy{sa.n(), sa.c() + sb.c(), sa.d(), sa.h(), sa.w()};
  Tensor a = random_tensor(sa, 5), b = random_tensor(sb, 6), y = dev_empty(sy);
  be().concat_channels(dev(a), dev(b), y);
  EXPECT_ALLCLOSE(host(y),
                  ref::to_tensor(ref::concat_channels(ref::to_vec(a), sa, ref::to_vec(b), sb), sy),
                  kExact);
  Tensor a2 = dev_empty(sa), b2 = dev_empty(sb);
  be().split_channels(y, a2, b2);
  EXPECT_ALLCLOSE(host(a2), a, kExact);
  EXPECT_ALLCLOSE(host(b2), b, kExact);
}

TEST_P(ElementwiseTest, DropoutAppliesItsMask) {
  const Shape s = GetParam();
  const float p = 0.3f, scale = 1.f / (1.f - p);
  Tensor x = random_tensor(s, 7), y = dev_empty(s), mask = dev_empty(s);
  be().dropout_forward(dev(x), p, 1234, y, mask);
  const std::vector<float> m = host(mask).to_vector();
  for (float v : m) EXPECT_TRUE(v == 0.f || v == scale) << v;
  ref::Vec expected = ref::to_vec(x);
  for (size_t i = 0; i < m.size(); ++i) expected[i] *= m[i];
  EXPECT_ALLCLOSE(host(y), ref::to_tensor(expected, s), kExact);
}

INSTANTIATE_TEST_SUITE_P(Shapes, ElementwiseTest, ::testing::ValuesIn(activation_shapes()),
                         shape_param_name);

class DropoutTest : public OpTest {
 protected:
  std::vector<float> mask_of(const Shape& s, float p, uint64_t seed) {
    Tensor x = dev(Tensor::full(s, 1.f)), y = dev_empty(s), mask = dev_empty(s);
    be().dropout_forward(x, p, seed, y, mask);
    return host(mask).to_vector();
  }
};

// The fraction dropped is p and the mask averages to 1, within 5 standard deviations.
TEST_F(DropoutTest, MaskStatistics) {
  const Shape s{2, 4, 5, 100, 100};
  const double n = static_cast<double>(s.numel());
  for (float p : {0.1f, 0.5f, 0.9f}) {
    const std::vector<float> m = mask_of(s, p, 7);
    double dropped = 0, sum = 0;
    for (float v : m) {
      dropped += v == 0.f;
      sum += v;
    }
    EXPECT_NEAR(dropped / n, p, 5 * std::sqrt(p * (1 - p) / n)) << "p = " << p;
    EXPECT_NEAR(sum / n, 1.0, 5 * std::sqrt(p / (1 - p) / n)) << "p = " << p;
  }
}

TEST_F(DropoutTest, SameSeedSameMaskOtherSeedOtherMask) {
  const Shape s{1, 3, 4, 50, 50};
  const float p = 0.5f;
  const std::vector<float> a = mask_of(s, p, 42), b = mask_of(s, p, 42), c = mask_of(s, p, 43);
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

// Pins the counter-based stream (seed 42, p = 0.5, first 32 elements): a CUDA backend must draw
// exactly this mask, and a change of the hash shows up here. The bits were computed
// independently in Python: u_i = (mix(mix(42) + (i + 1) * 0x9E3779B97F4A7C15) >> 40) / 2^24 with
// splitmix64's mix, and bit i = (u_i >= 0.5).
TEST_F(DropoutTest, MaskIsPinned) {
  const std::vector<float> m = mask_of(Shape{1, 1, 1, 1, 32}, 0.5f, 42);
  std::string bits;
  for (float v : m) bits += v != 0.f ? '1' : '0';
  EXPECT_EQ(bits, "10001000101110010001001001011001");
}

TEST_F(DropoutTest, ExtremeProbabilities) {
  const Shape s{1, 2, 1, 9, 9};
  Tensor x = random_tensor(s, 8), y = dev_empty(s), mask = dev_empty(s);
  be().dropout_forward(dev(x), 0.f, 1, y, mask);
  EXPECT_ALLCLOSE(host(y), x, kExact);
  be().dropout_forward(dev(x), 1.f, 1, y, mask);
  EXPECT_ALLCLOSE(host(y), Tensor::zeros(s), kExact);
  expect_error([&] { be().dropout_forward(dev(x), 1.5f, 1, y, mask); },
               "dropout_forward: drop probability p = 1.5 must be in [0, 1]");
}

TEST_F(DropoutTest, DoesNotDependOnThreadCount) {
  const Shape s{1, 2, 3, 60, 70};
  const int before = omp_get_max_threads();
  omp_set_num_threads(1);
  const std::vector<float> one = mask_of(s, 0.4f, 99);
  omp_set_num_threads(2);
  const std::vector<float> two = mask_of(s, 0.4f, 99);
  omp_set_num_threads(before);
  EXPECT_EQ(one, two);
}

class ElementwiseEdgeTest : public OpTest {};

// sum_squares reduces fixed chunks in order: 1, 2 or 3 threads give the same double, bit for bit.
TEST_F(ElementwiseEdgeTest, SumSquaresDoesNotDependOnThreadCount) {
  Tensor x = dev(random_tensor(Shape{2, 3, 5, 70, 90}, 11));
  const int before = omp_get_max_threads();
  omp_set_num_threads(1);
  const double one = be().sum_squares(x);
  omp_set_num_threads(2);
  const double two = be().sum_squares(x);
  omp_set_num_threads(3);
  const double three = be().sum_squares(x);
  omp_set_num_threads(before);
  EXPECT_EQ(one, two);
  EXPECT_EQ(one, three);
}

TEST(ElementwiseErrors, ShapeMismatchesAreNamed) {
  auto be = make_backend(Device::CPU);
  Tensor a = Tensor::zeros(Shape{1, 3, 1, 7, 5}), b = Tensor::zeros(Shape{1, 2, 1, 7, 5});
  Tensor y = Tensor::zeros(Shape{1, 4, 1, 7, 5});
  expect_error([&] { be->add(a, b, y); },
               "add: b [1, 2, 1, 7, 5] does not match a [1, 3, 1, 7, 5]");
  expect_error([&] { be->copy(a, b); },
               "copy: dst [1, 2, 1, 7, 5] does not match src [1, 3, 1, 7, 5]");
  expect_error([&] { be->concat_channels(a, b, y); },
               "concat_channels: y [1, 4, 1, 7, 5] is not the channel concatenation of a "
               "[1, 3, 1, 7, 5] and b [1, 2, 1, 7, 5]");
}

}  // namespace
}  // namespace useg::test
