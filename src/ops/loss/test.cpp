// The loss cases of the op harness (tests/harness/op_case.h): CE, Dice, DiceCE (per-sample and
// batch Dice, weighted, smoothed), MSE and hinge (label-map and dense targets) on every activation
// shape — the value vs the double reference (eval) and dlogits vs central differences of the
// reference (grad); rows longer than one CUDA reduction chunk; every Dice class-count bucket of
// the CUDA kernels; thread-count independence; error messages; the batch Dice of a batch split
// over data-parallel ranks.
//
// Tolerances. The value sums float per-voxel terms (~1e-7 relative each, errors of both signs)
// in double: rel 1e-6 (observed <= 1e-8). Central differences: h = 1e-4 in double on the
// reference loss, whose magnitude is O(1), so rounding ~1e-16 / h = 1e-12 and truncation
// ~h^2 |L'''| / 6, both < 1e-8 of the largest gradient entry (~1/V). The backend's gradient is
// float: softmax probabilities (~1e-7 relative) combined with Dice coefficients, with some
// cancellation in p_k (g_k - sum_c p_c g_c), so the comparison allows abs 1e-5 * max|gradient| +
// rel 1e-4 — also across devices, where the value must agree to rel 1e-6.
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "common/expect_error.h"
#include "harness/op_case.h"
#include "ops/loss/ref.h"

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
      make_case("dice_ce_batch_weighted_smooth1", LossKind::DiceCE, true, false, 0.5f, 1.f),
      make_case("mse_labels", LossKind::MSE),
      make_case("mse_dense", LossKind::MSE, false, true, 2.f),
      make_case("hinge_labels", LossKind::Hinge),
      make_case("hinge_dense", LossKind::Hinge, false, true),
      make_case("multi_hinge", LossKind::MultiHinge),
      make_case("multi_hinge_weighted", LossKind::MultiHinge, false, false, 0.5f),
  };
}

bool has_dice(const LossSpec& s) { return s.kind == LossKind::Dice || s.kind == LossKind::DiceCE; }

// Logits in [-2, 2], kept 0.01 away from +-1, the hinge kinks for 0/1 targets. For the
// multi-class hinge (kinks where x_t - x_k = 1): multiples of 0.25 plus 0.03 per channel, so a
// difference of two channels is 0.25 m + 0.03 j with 0 < |j| < 8, at least 0.01 from any
// multiple of 0.25.
Tensor loss_logits(const Shape& s, uint32_t seed, bool multi_hinge = false) {
  Tensor x = random_tensor(s, seed, -2.f, 2.f);
  for (int64_t i = 0; i < x.numel(); ++i)
    if (std::fabs(std::fabs(x.data()[i]) - 1.f) < 0.01f) x.data()[i] *= 0.5f;
  if (multi_hinge) {
    const int64_t S = s.spatial(), C = s.c();
    for (int64_t i = 0; i < x.numel(); ++i)
      x.data()[i] = std::round(x.data()[i] * 4.f) / 4.f + 0.03f * float((i / S) % C % 8);
  }
  return x;
}

Tensor loss_target(const LossCase& c, const Shape& s, uint32_t seed) {
  if (!c.dense) return random_labels(s, static_cast<int>(s.c()), seed);
  if (c.spec.kind == LossKind::MSE) return random_tensor(s, seed, 0.f, 1.f);
  Tensor t = random_tensor(s, seed, 0.f, 1.f);  // 0/1 values
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = t.data()[i] < 0.5f ? 0.f : 1.f;
  return t;
}

// The value vs the reference and the CPU; dlogits vs the CPU (its reference is the grad case).
void value_and_gradient(OpRun& r, const LossSpec& spec, const Tensor& logits,
                        const Tensor& target, const std::string& tag = "") {
  const Shape& s = logits.shape();
  Tensor dlogits = r.garbage(s);
  const double value = r.be().loss_forward_backward(spec, r.dev(logits), r.dev(target), &dlogits);
  const double want =
      ref::loss(spec, ref::to_vec(logits), s, ref::to_vec(target), target.shape());
  r.expect_value("value" + tag, value, want, Tolerance{kValueRel * std::max(1.0, std::fabs(want)), 0},
                 Tolerance{kValueRel, kValueRel});
  r.keep("dlogits" + tag, dlogits, Tolerance{kGradAbs * max_abs(r.host(dlogits)), kGradRel});
  EXPECT_EQ(r.be().loss_forward_backward(spec, r.dev(logits), r.dev(target), nullptr), value)
      << "the value must not depend on whether dlogits is asked for" << tag;
}

bool multi(const LossCase& lc) { return lc.spec.kind == LossKind::MultiHinge; }

void eval(OpRun& r, const LossCase& lc, const Shape& s) {
  const Tensor logits = loss_logits(s, 1, multi(lc)), target = loss_target(lc, s, 2);
  if (has_dice(lc.spec) && s.c() < 2) {
    Tensor dlogits = r.empty(s);
    expect_error(
        [&] { r.be().loss_forward_backward(lc.spec, r.dev(logits), r.dev(target), &dlogits); },
        "need at least 2 channels (background + a foreground class) for a Dice term");
    return;
  }
  value_and_gradient(r, lc.spec, logits, target);
}

// Central differences at every element of small tensors and every 7th beyond 600 (7 is prime,
// so the sample still visits every channel and voxel position of these shapes).
void gradient(OpRun& r, const LossCase& lc, const Shape& s) {
  const Tensor logits = loss_logits(s, 1, multi(lc)), target = loss_target(lc, s, 2);
  Tensor dlogits = r.garbage(s);
  r.be().loss_forward_backward(lc.spec, r.dev(logits), r.dev(target), &dlogits);
  const ref::Vec xv = ref::to_vec(logits), tv = ref::to_vec(target);
  auto ref_loss = [&](const ref::Vec& x) { return ref::loss(lc.spec, x, s, tv, target.shape()); };
  const size_t step = xv.size() > 600 ? 7 : 1;
  std::vector<float> fd, got;
  const std::vector<float> dl = r.host(dlogits).to_vector();
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

// 12000 voxels per sample: more than one chunk of the CUDA row reduction (8192 elements).
void longer_than_a_chunk(OpRun& r) {
  const Shape s{2, 3, 4, 50, 60};
  value_and_gradient(r, LossSpec{}, random_tensor(s, 25, -4.f, 4.f), random_labels(s, 3, 26));
}

// The CUDA Dice accumulators are sized by class-count buckets (2, 4, 8, 16, 32, 64 classes:
// kernels.cu); the catalogue's channel counts miss the 16 and 64 buckets.
void every_class_count_bucket(OpRun& r) {
  for (int64_t classes : {2, 4, 6, 12, 17, 40, 64}) {
    const Shape s{2, classes, 1, 5, 7};
    value_and_gradient(r, LossSpec{}, random_tensor(s, 27, -3.f, 3.f),
                       random_labels(s, int(classes), 28), " (" + std::to_string(classes) + ")");
  }
}

// A Dice term over more than 64 classes is refused on CUDA, naming the limit.
void over_64_classes(OpRun& r) {
  const Shape s{1, 65, 1, 2, 2};
  LossSpec dice;
  dice.kind = LossKind::Dice;
  Tensor dg = r.empty(s);
  expect_error(
      [&] {
        r.be().loss_forward_backward(dice, r.dev(random_tensor(s, 29)),
                                     r.dev(random_labels(s, 65, 30)), &dg);
      },
      "exceeds the CUDA backend's limit of 64 classes");
}

// Confident, correct logits give a loss near 0 (every class present in the sample).
void perfect_prediction(OpRun& r) {
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
    EXPECT_NEAR(r.be().loss_forward_backward(spec, r.dev(logits), r.dev(labels), nullptr), 0.0,
                1e-6)
        << loss_name(k);
  }
}

// Fixed-chunk reductions: the loss and its gradient are bit-identical with 1, 2 or 3 threads.
void thread_count(OpRun& r) {
  const Shape s{2, 4, 4, 40, 41};  // 6560 voxels per sample: more than one reduction chunk
  Tensor logits = r.dev(loss_logits(s, 3)), labels = r.dev(random_labels(s, 4, 4));
  for (const LossCase& lc : loss_cases()) {
    if (lc.dense) continue;
    auto run = [&](int threads, Tensor& dl) {
      const int before = omp_get_max_threads();
      omp_set_num_threads(threads);
      const double v = r.be().loss_forward_backward(lc.spec, logits, labels, &dl);
      omp_set_num_threads(before);
      return v;
    };
    Tensor d1 = r.empty(s), d2 = r.empty(s), d3 = r.empty(s);
    const double v1 = run(1, d1), v2 = run(2, d2), v3 = run(3, d3);
    EXPECT_EQ(v1, v2) << lc.name;
    EXPECT_EQ(v1, v3) << lc.name;
    EXPECT_ALLCLOSE(r.host(d2), r.host(d1), kExact) << lc.name;
    EXPECT_ALLCLOSE(r.host(d3), r.host(d1), kExact) << lc.name;
  }
}

// torch.nn.MultiMarginLoss()(torch.tensor([[1., 2., .5], [0., 0., 3.]]), torch.tensor([0, 2]))
// = mean((2 + 0.5) / 3, 0 / 3) = 0.41666..., with logits as two voxels of one sample.
void multi_hinge_matches_pytorch(OpRun& r) {
  Tensor logits = Tensor::empty(Shape{1, 3, 1, 1, 2}), labels = Tensor::empty(Shape{1, 1, 1, 1, 2});
  const float x[6] = {1.f, 0.f, 2.f, 0.f, .5f, 3.f};  // channel-major: [c][voxel]
  std::copy(x, x + 6, logits.data());
  labels.data()[0] = 0.f;
  labels.data()[1] = 2.f;
  LossSpec spec;
  spec.kind = LossKind::MultiHinge;
  Tensor dl = r.empty(logits.shape());
  EXPECT_NEAR(r.be().loss_forward_backward(spec, r.dev(logits), r.dev(labels), &dl), 2.5 / 6,
              1e-7);
  // d/dx: voxel 0 (class 0, both margins active): x0 -2/6, x1 +1/6, x2 +1/6; voxel 1: all 0.
  const std::vector<float> want{-2.f / 6, 0.f, 1.f / 6, 0.f, 1.f / 6, 0.f};
  EXPECT_ALLCLOSE(r.host(dl).to_vector(), want, (Tolerance{1e-7, 0}));
}

void bad_targets(OpRun& r) {
  const Shape s{1, 3, 1, 7, 5};
  Tensor logits = r.zeros(s);
  LossSpec spec;  // DiceCE
  Tensor labels = Tensor::zeros(Shape{1, 1, 1, 7, 5});
  labels.at(0, 0, 0, 2, 1) = 3.f;
  Backend& be = r.be();
  expect_error([&] { be.loss_forward_backward(spec, logits, r.dev(labels), nullptr); },
               "loss_forward_backward: target value 3 at [0, 0, 0, 2, 1] of [1, 1, 1, 7, 5] is "
               "not a class index in 0..2 (the logits have 3 channels)");
  labels.at(0, 0, 0, 2, 1) = 0.5f;
  expect_error([&] { be.loss_forward_backward(spec, logits, r.dev(labels), nullptr); },
               "target value 0.5 at [0, 0, 0, 2, 1]");
  Tensor dense = r.zeros(s);
  expect_error([&] { be.loss_forward_backward(spec, logits, dense, nullptr); },
               "loss_forward_backward (dice_ce): target [1, 3, 1, 7, 5] must be a label map "
               "[1, 1, 1, 7, 5] for logits [1, 3, 1, 7, 5]");
  spec.kind = LossKind::MSE;
  Tensor wrong = r.zeros(Shape{1, 2, 1, 7, 5});
  expect_error([&] { be.loss_forward_backward(spec, logits, wrong, nullptr); },
               "loss_forward_backward (mse): target [1, 2, 1, 7, 5] must be a label map "
               "[1, 1, 1, 7, 5] or shaped like the logits [1, 3, 1, 7, 5]");
  spec.kind = LossKind::MultiHinge;
  expect_error([&] { be.loss_forward_backward(spec, logits, dense, nullptr); },
               "loss_forward_backward (multi_hinge): target [1, 3, 1, 7, 5] must be a label map "
               "[1, 1, 1, 7, 5] for logits [1, 3, 1, 7, 5]");
  spec.kind = LossKind::MSE;
  Tensor dl = r.zeros(Shape{1, 3, 1, 7, 4});
  expect_error([&] { be.loss_forward_backward(spec, logits, dense, &dl); },
               "loss_forward_backward: dlogits [1, 3, 1, 7, 4] does not match logits "
               "[1, 3, 1, 7, 5]");
}

// Data-parallel batch Dice (LossSpec::reduce_dice_sums): a batch of 3 split over two ranks as
// 2 + 1. Each rank's hook adds the other's Dice sums (recorded by a first pass with an identity
// hook), and its Dice gradient is divided by its share. Weighted by the shares, as the trainer's
// all-reduce weights the ranks, the values and gradients must be those of the whole batch.
void batch_dice_summed_over_ranks(OpRun& r) {
  const Shape whole{3, 3, 1, 9, 7};
  const Tensor logits = loss_logits(whole, 31), labels = random_labels(whole, 3, 32);
  const int64_t n[2] = {2, 1}, first[2] = {0, 2};
  for (LossKind kind : {LossKind::Dice, LossKind::DiceCE}) {
    SCOPED_TRACE(loss_name(kind));
    LossSpec plain;
    plain.kind = kind;
    plain.batch_dice = true;
    Tensor d_whole = r.garbage(whole);
    const double v_whole =
        r.be().loss_forward_backward(plain, r.dev(logits), r.dev(labels), &d_whole);

    std::vector<double> sums[2];
    Tensor x[2], t[2], d[2];
    for (int k = 0; k < 2; ++k) {
      x[k] = r.dev(logits.batch_slice(first[k], n[k]).clone());
      t[k] = r.dev(labels.batch_slice(first[k], n[k]).clone());
      LossSpec record = plain;
      record.reduce_dice_sums = [&sums, k](double* s, size_t count) {
        sums[k].assign(s, s + count);
      };
      r.be().loss_forward_backward(record, x[k], t[k], nullptr);
      ASSERT_EQ(sums[k].size(), 6u);  // (I, P, T) x 2 foreground classes
    }
    double v = 0;
    std::vector<float> combined;
    for (int k = 0; k < 2; ++k) {
      LossSpec share = plain;
      share.dice_share = double(n[k]) / 3.0;
      const std::vector<double>& other = sums[1 - k];
      share.reduce_dice_sums = [&other](double* s, size_t count) {
        for (size_t i = 0; i < count; ++i) s[i] += other[i];
      };
      d[k] = r.garbage(x[k].shape());
      v += share.dice_share * r.be().loss_forward_backward(share, x[k], t[k], &d[k]);
      for (float g : r.host(d[k]).to_vector()) combined.push_back(float(share.dice_share) * g);
    }
    EXPECT_NEAR(v, v_whole, kValueRel * std::max(1.0, std::fabs(v_whole)));
    const Tensor want = r.host(d_whole);
    EXPECT_ALLCLOSE(combined, want.to_vector(), (Tolerance{kGradAbs * max_abs(want), kGradRel}));
  }
  // Only the batch Dice has sums to share.
  LossSpec per_sample;
  per_sample.reduce_dice_sums = [](double*, size_t) {};
  expect_error(
      [&] { r.be().loss_forward_backward(per_sample, r.dev(logits), r.dev(labels), nullptr); },
      "loss: reduce_dice_sums is for batch_dice (one Dice over the global batch)");
}

// Perf: DiceCE over 4 classes (value and dlogits).
OpCase dice_ce_perf(bool three_d) {
  return perf_case(std::string("dice_ce_4_classes_") + (three_d ? "3d" : "2d"),
                   [=](Backend& be, double scale) {
                     Shape s = perf_shape(three_d, scale);
                     s[1] = 4;
                     const Shape ls{s.n(), 1, s.d(), s.h(), s.w()};
                     Tensor logits = perf_random(be, s, 9);
                     Tensor dlogits = Tensor::empty(s, be.device());
                     Tensor labels = Tensor::zeros(ls);
                     for (int64_t i = 0; i < labels.numel(); ++i) labels.data()[i] = float(i % 4);
                     labels = labels.to(be.device());
                     const double bytes = double(s.numel()) * 8 + double(ls.numel()) * 4;
                     return PerfCall{s, bytes, [=, &be]() mutable {
                                       be.loss_forward_backward(LossSpec{}, logits, labels,
                                                                &dlogits);
                                     }};
                   });
}

}  // namespace

USEG_OP_CASES(loss) {
  CaseList cases;
  for (const LossCase& lc : loss_cases())
    for (const Shape& s : activation_shapes()) {
      const std::string tag = lc.name + "_" + shape_name(s);
      cases.push_back(eval_case(tag, [=](OpRun& r) { eval(r, lc, s); }));
      if (has_dice(lc.spec) && s.c() < 2) continue;  // eval checks the error
      cases.push_back(grad_case(tag, [=](OpRun& r) { gradient(r, lc, s); }));
    }
  cases.push_back(eval_case("dice_ce_longer_than_a_reduction_chunk", longer_than_a_chunk));
  cases.push_back(eval_case("dice_ce_every_class_count_bucket", every_class_count_bucket));
  OpCase limit = eval_case("dice_over_64_classes_is_refused_on_cuda", over_64_classes);
  limit.devices = {Device::CUDA};
  cases.push_back(limit);
  cases.push_back(eval_case("perfect_prediction_gives_near_zero_loss", perfect_prediction));
  cases.push_back(eval_case("results_do_not_depend_on_thread_count", thread_count));
  cases.push_back(eval_case("bad_targets_are_named", bad_targets));
  cases.push_back(eval_case("multi_hinge_matches_pytorch", multi_hinge_matches_pytorch));
  cases.push_back(eval_case("batch_dice_summed_over_ranks", batch_dice_summed_over_ranks));
  cases.push_back(dice_ce_perf(false));
  cases.push_back(dice_ce_perf(true));
  return cases;
}

}  // namespace useg::test
