// CUDA vs CPU: the training ops. Instance and batch norm (forward, saved statistics, running
// statistics, backward), every loss (value and gradient) and the optimizers over several steps,
// on every activation shape (tolerances: cuda_vs_cpu.h).
#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>

#include "cuda/cuda_vs_cpu.h"

namespace useg::test {
namespace {

// x with channel c shifted by c - 1, so that the groups' means differ.
Tensor norm_input(const Shape& s, uint32_t seed) {
  Tensor x = random_tensor(s, seed);
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] += float((i / s.spatial()) % s.c()) - 1.f;
  return x;
}

class CudaVsCpuNorm : public CudaVsCpuTest<Shape> {};

TEST_P(CudaVsCpuNorm, InstanceNorm) {
  const Shape s = GetParam();
  const int64_t C = s.c(), G = s.n() * C;
  const Tensor x = norm_input(s, 1), dy = random_tensor(s, 2);
  const Tensor gamma = random_tensor(Shape{C}, 3, 0.5f, 1.5f), beta = random_tensor(Shape{C}, 4);
  const Tensor gg = on_gpu(gamma), bg = on_gpu(beta);
  for (bool affine : {false, true}) {
    SCOPED_TRACE(affine ? "affine" : "plain");
    const Tensor* gc = affine ? &gamma : nullptr;
    const Tensor* bc = affine ? &beta : nullptr;
    Tensor yc = Tensor::empty(s), mc = Tensor::empty(Shape{G}), ic = Tensor::empty(Shape{G});
    cpu().instance_norm_forward(x, gc, bc, 1e-5f, yc, &mc, &ic);
    Tensor xg = on_gpu(x), yg = gpu_empty(s), mg = gpu_empty(Shape{G}), ig = gpu_empty(Shape{G});
    gpu().instance_norm_forward(xg, affine ? &gg : nullptr, affine ? &bg : nullptr, 1e-5f, yg,
                                &mg, &ig);
    EXPECT_ALLCLOSE(host(yg), yc, kNorm);
    EXPECT_ALLCLOSE(host(mg), mc, kNorm);
    EXPECT_ALLCLOSE(host(ig), ic, kNorm);
    Tensor dxc = Tensor::empty(s), dgc = Tensor::empty(Shape{C}), dbc = Tensor::empty(Shape{C});
    cpu().instance_norm_backward(x, dy, gc, mc, ic, dxc, &dgc, &dbc);
    Tensor dxg = gpu_empty(s), dgg = gpu_empty(Shape{C}), dbg = gpu_empty(Shape{C});
    gpu().instance_norm_backward(xg, on_gpu(dy), affine ? &gg : nullptr, mg, ig, dxg, &dgg, &dbg);
    EXPECT_ALLCLOSE(host(dxg), dxc, kNorm);
    EXPECT_ALLCLOSE(host(dgg), dgc, kSums);
    EXPECT_ALLCLOSE(host(dbg), dbc, kSums);
  }
  // Inference without saved statistics.
  Tensor yc = Tensor::empty(s), yg = gpu_empty(s);
  cpu().instance_norm_forward(x, nullptr, nullptr, 1e-5f, yc, nullptr, nullptr);
  gpu().instance_norm_forward(on_gpu(x), nullptr, nullptr, 1e-5f, yg, nullptr, nullptr);
  EXPECT_ALLCLOSE(host(yg), yc, kNorm);
}

TEST_P(CudaVsCpuNorm, BatchNorm) {
  const Shape s = GetParam();
  if (s.n() * s.spatial() < 2) GTEST_SKIP() << "batch norm training needs 2 values per channel";
  const int64_t C = s.c();
  const Tensor x = norm_input(s, 5), dy = random_tensor(s, 6);
  const Tensor gamma = random_tensor(Shape{C}, 7, 0.5f, 1.5f), beta = random_tensor(Shape{C}, 8);
  Tensor rmc = random_tensor(Shape{C}, 9), rvc = random_tensor(Shape{C}, 10, 0.5f, 2.f);
  Tensor rmg = on_gpu(rmc), rvg = on_gpu(rvc);
  Tensor yc = Tensor::empty(s), mc = Tensor::empty(Shape{C}), ic = Tensor::empty(Shape{C});
  Tensor yg = gpu_empty(s), mg = gpu_empty(Shape{C}), ig = gpu_empty(Shape{C});
  const Tensor gg = on_gpu(gamma), bg = on_gpu(beta), xg = on_gpu(x);
  for (int step = 0; step < 2; ++step) {  // the running statistics accumulate
    cpu().batch_norm_forward_training(x, &gamma, &beta, 1e-5f, 0.1f, rmc, rvc, yc, mc, ic);
    gpu().batch_norm_forward_training(xg, &gg, &bg, 1e-5f, 0.1f, rmg, rvg, yg, mg, ig);
  }
  EXPECT_ALLCLOSE(host(yg), yc, kNorm);
  EXPECT_ALLCLOSE(host(mg), mc, kNorm);
  EXPECT_ALLCLOSE(host(ig), ic, kNorm);
  EXPECT_ALLCLOSE(host(rmg), rmc, kNorm);
  EXPECT_ALLCLOSE(host(rvg), rvc, kNorm);
  Tensor dxc = Tensor::empty(s), dgc = Tensor::empty(Shape{C}), dbc = Tensor::empty(Shape{C});
  Tensor dxg = gpu_empty(s), dgg = gpu_empty(Shape{C}), dbg = gpu_empty(Shape{C});
  cpu().batch_norm_backward(x, dy, &gamma, mc, ic, dxc, &dgc, &dbc);
  gpu().batch_norm_backward(xg, on_gpu(dy), &gg, mg, ig, dxg, &dgg, &dbg);
  EXPECT_ALLCLOSE(host(dxg), dxc, kNorm);
  EXPECT_ALLCLOSE(host(dgg), dgc, kSums);
  EXPECT_ALLCLOSE(host(dbg), dbc, kSums);
  // Without affine parameters and without dgamma / dbeta.
  cpu().batch_norm_backward(x, dy, nullptr, mc, ic, dxc, nullptr, nullptr);
  gpu().batch_norm_backward(xg, on_gpu(dy), nullptr, mg, ig, dxg, nullptr, nullptr);
  EXPECT_ALLCLOSE(host(dxg), dxc, kNorm);
  // Inference from the running statistics.
  cpu().batch_norm_forward_inference(x, &gamma, &beta, rmc, rvc, 1e-5f, yc);
  gpu().batch_norm_forward_inference(xg, &gg, &bg, rmg, rvg, 1e-5f, yg);
  EXPECT_ALLCLOSE(host(yg), yc, kNorm);
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaVsCpuNorm, ::testing::ValuesIn(activation_shapes()),
                         cuda_shape_name);

struct LossCase {
  const char* name;
  LossKind kind;
  bool batch_dice, dense;
  float weight, smooth;
};
const LossCase kLossCases[] = {
    {"ce", LossKind::CrossEntropy, false, false, 1.f, 1e-5f},
    {"dice", LossKind::Dice, false, false, 1.f, 1e-5f},
    {"dice_batch", LossKind::Dice, true, false, 1.f, 1e-5f},
    {"dice_ce", LossKind::DiceCE, false, false, 1.f, 1e-5f},
    {"dice_ce_batch_weighted", LossKind::DiceCE, true, false, 0.5f, 1.f},
    {"mse_labels", LossKind::MSE, false, false, 1.f, 1e-5f},
    {"mse_dense", LossKind::MSE, false, true, 2.f, 1e-5f},
    {"hinge_labels", LossKind::Hinge, false, false, 1.f, 1e-5f},
    {"hinge_dense", LossKind::Hinge, false, true, 1.f, 1e-5f},
};

class CudaVsCpuLoss : public CudaVsCpuTest<std::tuple<LossCase, Shape>> {};

TEST_P(CudaVsCpuLoss, ValueAndGradient) {
  const LossCase lc = std::get<0>(GetParam());
  const Shape s = std::get<1>(GetParam());
  LossSpec spec;
  spec.kind = lc.kind;
  spec.batch_dice = lc.batch_dice;
  spec.weight = lc.weight;
  spec.dice_smooth = lc.smooth;
  const bool dice = lc.kind == LossKind::Dice || lc.kind == LossKind::DiceCE;
  if (dice && s.c() < 2) GTEST_SKIP() << "a Dice term needs 2 channels";
  const Tensor logits = random_tensor(s, 11, -4.f, 4.f);
  const Tensor target = lc.dense ? random_tensor(s, 12, 0.f, 1.f)
                                 : random_labels(s, int(s.c()), 12);
  Tensor dc = Tensor::empty(s), dg = gpu_empty(s);
  const double vc = cpu().loss_forward_backward(spec, logits, target, &dc);
  const double vg = gpu().loss_forward_backward(spec, on_gpu(logits), on_gpu(target), &dg);
  EXPECT_NEAR(vg, vc, 1e-6 * std::max(1.0, std::fabs(vc)));
  double gmax = 0;
  for (float v : dc.to_vector()) gmax = std::max(gmax, double(std::fabs(v)));
  EXPECT_ALLCLOSE(host(dg), dc, Tolerance{1e-5 * gmax, 1e-4});
  // Value only.
  EXPECT_EQ(gpu().loss_forward_backward(spec, on_gpu(logits), on_gpu(target), nullptr), vg);
}

std::string loss_param_name(const ::testing::TestParamInfo<std::tuple<LossCase, Shape>>& info) {
  return std::string(std::get<0>(info.param).name) + "_" +
         cuda_shape_name(::testing::TestParamInfo<Shape>(std::get<1>(info.param), 0));
}

INSTANTIATE_TEST_SUITE_P(Cases, CudaVsCpuLoss,
                         ::testing::Combine(::testing::ValuesIn(kLossCases),
                                            ::testing::ValuesIn(activation_shapes())),
                         loss_param_name);

class CudaVsCpuOptim : public CudaVsCpuTest<Shape> {};

TEST_P(CudaVsCpuOptim, SgdAndAdamOverThreeSteps) {
  const Shape s = GetParam();
  const Tensor p0 = random_tensor(s, 13);
  for (int variant = 0; variant < 6; ++variant) {
    SCOPED_TRACE(variant);
    Tensor pc = p0.clone(), pg = on_gpu(p0);
    Tensor ac = Tensor::zeros(s), bc = Tensor::zeros(s);
    Tensor ag = Tensor::zeros(s, Device::CUDA), bgv = Tensor::zeros(s, Device::CUDA);
    for (int step = 1; step <= 3; ++step) {
      const Tensor grad = random_tensor(s, 100 + uint32_t(step));
      const Tensor gg = on_gpu(grad);
      if (variant < 3) {
        SgdStep k;
        k.lr = 0.1f;
        k.momentum = variant == 0 ? 0.f : 0.9f;
        k.nesterov = variant == 2;
        k.weight_decay = 1e-2f;
        cpu().sgd_update(pc, grad, variant ? &ac : nullptr, k);
        gpu().sgd_update(pg, gg, variant ? &ag : nullptr, k);
      } else {
        AdamStep k;
        k.lr = 1e-2f;
        k.weight_decay = variant == 3 ? 0.f : 0.05f;
        k.decoupled = variant == 5;
        k.step = step;
        cpu().adam_update(pc, grad, ac, bc, k);
        gpu().adam_update(pg, gg, ag, bgv, k);
      }
    }
    EXPECT_ALLCLOSE(host(pg), pc, kUlps);
    EXPECT_ALLCLOSE(host(ag), ac, kUlps);
    EXPECT_ALLCLOSE(host(bgv), bc, kUlps);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaVsCpuOptim, ::testing::ValuesIn(activation_shapes()),
                         cuda_shape_name);

// Rows longer than one reduction chunk (cuda/host/launch_config.h: 8192 elements), which the
// shape catalogue does not reach: instance rows of 12000 voxels, batch rows of 24000 values,
// loss rows of 12000 voxels.
class CudaVsCpuLongRows : public CudaVsCpuFixture {};

TEST_F(CudaVsCpuLongRows, NormsLossAndSumSquares) {
  const Shape s{2, 3, 4, 50, 60};
  const int64_t C = s.c();
  const Tensor x = norm_input(s, 21), dy = random_tensor(s, 22);
  const Tensor gamma = random_tensor(Shape{C}, 23, 0.5f, 1.5f), beta = random_tensor(Shape{C}, 24);
  const Tensor xg = on_gpu(x), dyg = on_gpu(dy), gg = on_gpu(gamma), bg = on_gpu(beta);
  for (bool batch : {false, true}) {
    SCOPED_TRACE(batch ? "batch norm" : "instance norm");
    const Shape gs{batch ? C : s.n() * C};
    Tensor yc = Tensor::empty(s), mc = Tensor::empty(gs), ic = Tensor::empty(gs);
    Tensor yg = gpu_empty(s), mg = gpu_empty(gs), ig = gpu_empty(gs);
    if (batch) {
      Tensor rmc = Tensor::zeros(Shape{C}), rvc = Tensor::full(Shape{C}, 1.f);
      Tensor rmg = on_gpu(rmc), rvg = on_gpu(rvc);
      cpu().batch_norm_forward_training(x, &gamma, &beta, 1e-5f, 0.1f, rmc, rvc, yc, mc, ic);
      gpu().batch_norm_forward_training(xg, &gg, &bg, 1e-5f, 0.1f, rmg, rvg, yg, mg, ig);
      EXPECT_ALLCLOSE(host(rvg), rvc, kNorm);
    } else {
      cpu().instance_norm_forward(x, &gamma, &beta, 1e-5f, yc, &mc, &ic);
      gpu().instance_norm_forward(xg, &gg, &bg, 1e-5f, yg, &mg, &ig);
    }
    EXPECT_ALLCLOSE(host(yg), yc, kNorm);
    EXPECT_ALLCLOSE(host(ig), ic, kNorm);
    Tensor dxc = Tensor::empty(s), dgc = Tensor::empty(Shape{C}), dbc = Tensor::empty(Shape{C});
    Tensor dxg = gpu_empty(s), dgg = gpu_empty(Shape{C}), dbg = gpu_empty(Shape{C});
    if (batch) {
      cpu().batch_norm_backward(x, dy, &gamma, mc, ic, dxc, &dgc, &dbc);
      gpu().batch_norm_backward(xg, dyg, &gg, mg, ig, dxg, &dgg, &dbg);
    } else {
      cpu().instance_norm_backward(x, dy, &gamma, mc, ic, dxc, &dgc, &dbc);
      gpu().instance_norm_backward(xg, dyg, &gg, mg, ig, dxg, &dgg, &dbg);
    }
    EXPECT_ALLCLOSE(host(dxg), dxc, kNorm);
    EXPECT_ALLCLOSE(host(dgg), dgc, Tolerance{1e-3, 1e-5});  // sums of 24000 terms
    EXPECT_ALLCLOSE(host(dbg), dbc, Tolerance{1e-3, 1e-5});
  }
  LossSpec spec;  // DiceCE
  const Tensor logits = random_tensor(s, 25, -4.f, 4.f), labels = random_labels(s, 3, 26);
  Tensor dc = Tensor::empty(s), dg = gpu_empty(s);
  const double vc = cpu().loss_forward_backward(spec, logits, labels, &dc);
  const double vg = gpu().loss_forward_backward(spec, on_gpu(logits), on_gpu(labels), &dg);
  EXPECT_NEAR(vg, vc, 1e-6 * std::fabs(vc));
  double gmax = 0;
  for (float v : dc.to_vector()) gmax = std::max(gmax, double(std::fabs(v)));
  EXPECT_ALLCLOSE(host(dg), dc, Tolerance{1e-5 * gmax, 1e-4});
  const double sc = cpu().sum_squares(x), sg = gpu().sum_squares(xg);
  EXPECT_NEAR(sg, sc, 1e-12 * sc);
}

// The Dice accumulators are sized by class-count buckets (2, 4, 8, 16, 32, 64 classes:
// cuda/loss_kernels.cu); the catalogue's channel counts miss the 16 and 64 buckets.
TEST_F(CudaVsCpuLongRows, DiceForEveryClassCountBucket) {
  for (int64_t classes : {2, 4, 6, 12, 17, 40, 64}) {
    SCOPED_TRACE(classes);
    const Shape s{2, classes, 1, 5, 7};
    LossSpec spec;  // DiceCE
    const Tensor logits = random_tensor(s, 27, -3.f, 3.f);
    const Tensor labels = random_labels(s, int(classes), 28);
    Tensor dc = Tensor::empty(s), dg = gpu_empty(s);
    const double vc = cpu().loss_forward_backward(spec, logits, labels, &dc);
    const double vg = gpu().loss_forward_backward(spec, on_gpu(logits), on_gpu(labels), &dg);
    EXPECT_NEAR(vg, vc, 1e-6 * std::fabs(vc));
    double gmax = 0;
    for (float v : dc.to_vector()) gmax = std::max(gmax, double(std::fabs(v)));
    EXPECT_ALLCLOSE(host(dg), dc, Tolerance{1e-5 * gmax, 1e-4});
  }
  const Shape too_many{1, 65, 1, 2, 2};
  LossSpec dice;
  dice.kind = LossKind::Dice;
  Tensor dg = gpu_empty(too_many);
  try {
    gpu().loss_forward_backward(dice, on_gpu(random_tensor(too_many, 29)),
                                on_gpu(random_labels(too_many, 65, 30)), &dg);
    ADD_FAILURE() << "65 Dice classes accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("exceeds the CUDA backend's limit of 64 classes"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace useg::test
