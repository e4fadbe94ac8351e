// Losses: value vs the double reference and dlogits vs central differences of the reference, for
// CE, Dice, DiceCE (per-sample and batch Dice), MSE and hinge (label-map and dense targets), on
// every activation shape; thread-count independence; error messages.
//
// Tolerances. The value sums float per-voxel terms (~1e-7 relative each, errors of both signs)
// in double: rel 1e-6 (observed <= 1e-8).
// Central differences: h = 1e-4 in double on the reference loss, whose magnitude is O(1), so
// rounding ~1e-16 / h = 1e-12 and truncation ~h^2 |L'''| / 6, both < 1e-8 of the largest
// gradient entry (~1/V). The backend's gradient is float: softmax probabilities (~1e-7 relative)
// combined with Dice coefficients, with some cancellation in p_k (g_k - sum_c p_c g_c), so the
// comparison allows abs 1e-5 * max|gradient| + rel 1e-4.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <tuple>

#include "unit/op_test_util.h"

namespace useg::test {
namespace {

constexpr double kValueRel = 1e-6;
constexpr double kFdStep = 1e-4;
constexpr double kGradAbs = 1e-5;  // times max|gradient|
constexpr double kGradRel = 1e-4;

struct LossCase {
  std::string name;
  LossSpec spec;
  bool dense = false;  // MSE / hinge: dense target shaped like the logits
};

LossCase make_case(const std::string& name, LossKind kind, bool batch_dice = false,
                   bool dense = false, float weight = 1.f, float smooth = 1e-5f) {
  LossCase c;
  c.name = name;
  c.spec.kind = kind;
  c.spec.batch_dice = batch_dice;
  c.spec.weight = weight;
  c.spec.dice_smooth = smooth;
  c.dense = dense;
  return c;
}

std::vector<LossCase> loss_cases() {
  return {
      make_case("ce", LossKind::CrossEntropy),
      make_case("dice", LossKind::Dice),
      make_case("dice_batch", LossKind::Dice, true),
      make_case("dice_ce", LossKind::DiceCE),
      make_case("dice_ce_batch", LossKind::DiceCE, true),
      make_case("dice_ce_weighted_smooth1", LossKind::DiceCE, false, false, 0.5f, 1.f),
      make_case("mse_labels", LossKind::MSE),
      make_case("mse_dense", LossKind::MSE, false, true, 2.f),
      make_case("hinge_labels", LossKind::Hinge),
      make_case("hinge_dense", LossKind::Hinge, false, true),
  };
}

void PrintTo(const LossCase& c, std::ostream* os) { *os << c.name; }

bool has_dice(const LossSpec& s) { return s.kind == LossKind::Dice || s.kind == LossKind::DiceCE; }

// Logits in [-2, 2], kept 0.01 away from +-1, the hinge kinks for 0/1 targets.
Tensor loss_logits(const Shape& s, uint32_t seed) {
  Tensor x = random_tensor(s, seed, -2.f, 2.f);
  for (int64_t i = 0; i < x.numel(); ++i)
    if (std::fabs(std::fabs(x.data()[i]) - 1.f) < 0.01f) x.data()[i] *= 0.5f;
  return x;
}

Tensor loss_target(const LossCase& c, const Shape& s, uint32_t seed) {
  if (!c.dense) return random_labels(s, static_cast<int>(s.c()), seed);
  if (c.spec.kind == LossKind::MSE) return random_tensor(s, seed, 0.f, 1.f);
  Tensor t = random_tensor(s, seed, 0.f, 1.f);  // 0/1 values
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = t.data()[i] < 0.5f ? 0.f : 1.f;
  return t;
}

using LossParam = std::tuple<LossCase, Shape>;

std::string loss_param_name(const ::testing::TestParamInfo<LossParam>& info) {
  return std::get<0>(info.param).name + "_" + shape_name(std::get<1>(info.param));
}

class LossTest : public OpParamTest<LossParam> {};

TEST_P(LossTest, ValueAndGradientMatchReferenceAndFiniteDifferences) {
  const auto [lc, s] = GetParam();
  Tensor logits = loss_logits(s, 1), target = loss_target(lc, s, 2), dlogits = dev_empty(s);
  if (has_dice(lc.spec) && s.c() < 2) {
    expect_error([&] { be().loss_forward_backward(lc.spec, dev(logits), dev(target), &dlogits); },
                 "need at least 2 channels (background + a foreground class) for a Dice term");
    return;
  }
  const double value = be().loss_forward_backward(lc.spec, dev(logits), dev(target), &dlogits);
  const ref::Vec xv = ref::to_vec(logits), tv = ref::to_vec(target);
  auto ref_loss = [&](const ref::Vec& x) { return ref::loss(lc.spec, x, s, tv, target.shape()); };
  const double expected = ref_loss(xv);
  EXPECT_NEAR(value, expected, kValueRel * std::max(1.0, std::fabs(expected)));
  EXPECT_EQ(be().loss_forward_backward(lc.spec, dev(logits), dev(target), nullptr), value)
      << "the value must not depend on whether dlogits is asked for";

  // Central differences at every element of small tensors and every 7th beyond 600 (7 is prime,
  // so the sample still visits every channel and voxel position of these shapes).
  const size_t step = xv.size() > 600 ? 7 : 1;
  std::vector<float> fd, got;
  const std::vector<float> dl = host(dlogits).to_vector();
  ref::Vec x = xv;
  for (size_t i = 0; i < xv.size(); i += step) {
    x[i] = xv[i] + kFdStep;
    const double up = ref_loss(x);
    x[i] = xv[i] - kFdStep;
    const double down = ref_loss(x);
    x[i] = xv[i];
    fd.push_back(static_cast<float>((up - down) / (2 * kFdStep)));
    got.push_back(dl[i]);
  }
  const double scale = *std::max_element(
      fd.begin(), fd.end(), [](float a, float b) { return std::fabs(a) < std::fabs(b); });
  EXPECT_ALLCLOSE(got, fd, (Tolerance{kGradAbs * std::fabs(scale), kGradRel}));
}

INSTANTIATE_TEST_SUITE_P(Shapes, LossTest,
                         ::testing::Combine(::testing::ValuesIn(loss_cases()),
                                            ::testing::ValuesIn(activation_shapes())),
                         loss_param_name);

class LossEdgeTest : public OpTest {};

// Confident, correct logits give a loss near 0 (every class present in the sample).
TEST_F(LossEdgeTest, PerfectPredictionGivesNearZeroLoss) {
  const Shape s{2, 3, 1, 6, 5};
  Tensor labels = Tensor::empty(Shape{2, 1, 1, 6, 5}), logits = Tensor::zeros(s);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t v = 0; v < 30; ++v) {
      const int64_t c = (v + n) % 3;
      labels.data()[n * 30 + v] = static_cast<float>(c);
      logits.data()[(n * 3 + c) * 30 + v] = 30.f;
    }
  for (LossKind k : {LossKind::CrossEntropy, LossKind::Dice, LossKind::DiceCE}) {
    LossSpec spec;
    spec.kind = k;
    EXPECT_NEAR(be().loss_forward_backward(spec, dev(logits), dev(labels), nullptr), 0.0, 1e-6)
        << loss_name(k);
  }
}

// Fixed-chunk reductions: the loss and its gradient are bit-identical with 1, 2 or 3 threads.
TEST_F(LossEdgeTest, ResultsDoNotDependOnThreadCount) {
  const Shape s{2, 4, 4, 40, 41};  // 6560 voxels per sample: more than one reduction chunk
  Tensor logits = dev(loss_logits(s, 3)), labels = dev(random_labels(s, 4, 4));
  for (const LossCase& lc : loss_cases()) {
    if (lc.dense) continue;
    auto run = [&](int threads, Tensor& dl) {
      const int before = omp_get_max_threads();
      omp_set_num_threads(threads);
      const double v = be().loss_forward_backward(lc.spec, logits, labels, &dl);
      omp_set_num_threads(before);
      return v;
    };
    Tensor d1 = dev_empty(s), d2 = dev_empty(s), d3 = dev_empty(s);
    const double v1 = run(1, d1), v2 = run(2, d2), v3 = run(3, d3);
    EXPECT_EQ(v1, v2) << lc.name;
    EXPECT_EQ(v1, v3) << lc.name;
    EXPECT_ALLCLOSE(host(d2), host(d1), Tolerance{0, 0}) << lc.name;
    EXPECT_ALLCLOSE(host(d3), host(d1), Tolerance{0, 0}) << lc.name;
  }
}

TEST_F(LossEdgeTest, BadTargetsAreNamed) {
  const Shape s{1, 3, 1, 7, 5};
  Tensor logits = dev_zeros(s);
  LossSpec spec;  // DiceCE
  Tensor labels = Tensor::zeros(Shape{1, 1, 1, 7, 5});
  labels.at(0, 0, 0, 2, 1) = 3.f;
  expect_error([&] { be().loss_forward_backward(spec, logits, dev(labels), nullptr); },
               "loss_forward_backward: target value 3 at [0, 0, 0, 2, 1] of [1, 1, 1, 7, 5] is "
               "not a class index in 0..2 (the logits have 3 channels)");
  labels.at(0, 0, 0, 2, 1) = 0.5f;
  expect_error([&] { be().loss_forward_backward(spec, logits, dev(labels), nullptr); },
               "target value 0.5 at [0, 0, 0, 2, 1]");
  Tensor dense = dev_zeros(s);
  expect_error([&] { be().loss_forward_backward(spec, logits, dense, nullptr); },
               "loss_forward_backward (dice_ce): target [1, 3, 1, 7, 5] must be a label map "
               "[1, 1, 1, 7, 5] for logits [1, 3, 1, 7, 5]");
  spec.kind = LossKind::MSE;
  Tensor wrong = dev_zeros(Shape{1, 2, 1, 7, 5});
  expect_error([&] { be().loss_forward_backward(spec, logits, wrong, nullptr); },
               "loss_forward_backward (mse): target [1, 2, 1, 7, 5] must be a label map "
               "[1, 1, 1, 7, 5] or shaped like the logits [1, 3, 1, 7, 5]");
  Tensor dl = dev_zeros(Shape{1, 3, 1, 7, 4});
  expect_error([&] { be().loss_forward_backward(spec, logits, dense, &dl); },
               "loss_forward_backward: dlogits [1, 3, 1, 7, 4] does not match logits "
               "[1, 3, 1, 7, 5]");
}

}  // namespace
}  // namespace useg::test
