// The CPU backend's inference plan (blocked layouts end to end, fused norm/activation, folded
// batch norm, in-place concatenation) against the per-op forward it replaces, on configs that
// exercise each of its paths; and the refresh of its prepared weights when the weights change.
// (tests/unit/test_golden.cpp checks the plan against PyTorch's eval logits as well: eval-mode
// Network::forward runs it.)
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "common/compare.h"
#include "cpu/inference_plan.h"
#include "cpu/winograd.h"
#include "nn/builders.h"
#include "useg/model.h"

namespace useg {
namespace {

// Deterministic values in [lo, hi).
void randomize(Tensor& t, uint64_t seed, float lo, float hi) {
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 7;
  for (int64_t i = 0; i < t.numel(); ++i) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    t.data()[i] = lo + (hi - lo) * float((s >> 11) * (1.0 / 9007199254740992.0));
  }
}

// Non-trivial norm parameters and running statistics, so that folding and affine are tested.
void perturb_norms(Network& net) {
  uint64_t seed = 100;
  for (Parameter* p : net.parameters())
    if (p->name.find(".norm.") != std::string::npos || p->name.find(".bias") != std::string::npos)
      randomize(p->value, ++seed, p->name.find("norm.weight") != std::string::npos ? 0.5f : -0.3f,
                p->name.find("norm.weight") != std::string::npos ? 1.5f : 0.3f);
  for (Parameter* b : net.buffers())
    randomize(b->value, ++seed, b->name.find("var") != std::string::npos ? 0.5f : -0.2f,
              b->name.find("var") != std::string::npos ? 2.0f : 0.2f);
}

// require_plan = false: channel counts off the block size may leave oneDNN only reference
// kernels, and then no plan is built (see NeverBuiltOnReferenceKernels); whichever path
// Network::forward takes must still equal the per-op forward.
// Both ways the plan computes its 3x3(x3) convolutions are checked: "auto" (Winograd where
// AVX2 runs it) and "direct" (oneDNN's direct convolution, as on AVX-512 machines).
void expect_plan_matches_with(const std::string& conv_algorithm, const ModelConfig& cfg,
                              const Shape& xs, const std::string& what, bool require_plan) {
  BackendOptions opts;
  opts.conv_algorithm = conv_algorithm;
  auto be = make_backend(Device::CPU, opts);
  const bool planned = be->compile(nn::build_graph(cfg), xs) != nullptr;
  if (require_plan) {
    ASSERT_TRUE(planned) << what << ": no plan was built";
  }
  Network net(cfg, *be);
  net.init_weights(3);
  perturb_norms(net);
  Tensor x = Tensor::empty(xs);
  randomize(x, 1, -1.f, 1.f);
  net.set_inference_plan(false);
  Tensor ref = net.forward(x, false)[0];
  net.set_inference_plan(true);
  Tensor got = net.forward(x, false)[0];
  ASSERT_EQ(got.shape(), ref.shape());
  double m = 0;
  for (float v : ref.to_vector()) m = std::max(m, double(std::fabs(v)));
  EXPECT_ALLCLOSE(got, ref, (test::Tolerance{1e-5 * m + 1e-6, 0.0})) << what;
  std::printf("[plan] %s: max rel error vs per-op %.2e\n", what.c_str(),
              test::max_rel_error(got, ref));
}

void expect_plan_matches(const ModelConfig& cfg, const Shape& xs, const char* what,
                         bool require_plan = true) {
  for (const char* alg : {"auto", "direct"})
    expect_plan_matches_with(alg, cfg, xs, std::string(what) + " [" + alg + "]", require_plan);
}

// Filters that fill the plan's channel blocks on this CPU (8 with AVX2, 16 with AVX-512).
ModelConfig base2d() {
  ModelConfig c;
  c.dims = 2;
  c.in_channels = 1;
  c.num_classes = 2;
  c.base_filters = cpu::plan_block_size();
  c.depth = 2;
  return c;
}

TEST(InferencePlan, InstanceNorm2dAlignedChannels) {
  expect_plan_matches(base2d(), Shape{1, 1, 1, 24, 36}, "2D instance norm, leaky ReLU");
}

TEST(InferencePlan, BatchNormFoldedOddChannelsBatchOfTwo) {
  ModelConfig c = base2d();
  c.in_channels = 2;
  c.num_classes = 3;
  c.base_filters = 4;  // 4, 8, 12, 12: concat halves off the 8-channel blocks -> copy path
  c.depth = 3;
  c.max_filters = 12;
  c.norm = NormKind::Batch;
  expect_plan_matches(c, Shape{2, 2, 1, 24, 16}, "2D batch norm folded, odd channels, N=2",
                      /*require_plan=*/false);
}

TEST(InferencePlan, NoNormReluThreeConvsPerStage) {
  ModelConfig c = base2d();
  c.norm = NormKind::None;
  c.activation = Activation::ReLU;
  c.convs_per_stage = 3;
  expect_plan_matches(c, Shape{1, 1, 1, 16, 20}, "2D no norm, ReLU post-op, 3 convs");
}

TEST(InferencePlan, Residual3dAnisotropicDeepSupervision) {
  ModelConfig c;
  c.dims = 3;
  c.base_filters = cpu::plan_block_size();
  c.depth = 2;
  c.max_filters = 2 * c.base_filters;
  c.activation = Activation::ReLU;
  c.residual = true;
  c.deep_supervision = true;  // eval mode returns the main head only, as the per-op path
  c.pool_sizes = {{1, 2, 2}, {2, 2, 2}};
  c.kernel_sizes = {{1, 3, 3}, {3, 3, 3}, {3, 3, 3}};
  expect_plan_matches(c, Shape{1, 1, 6, 12, 8}, "3D residual, anisotropic, instance norm");
}

// nnU-Net's ResidualEncoderUNet (architecture nnunet_resenc): the plan pools the strided
// blocks' skips (oneDNN's average pooling), fuses each block's conv2 with its norm, the sum with
// the skip (identity, pooled, or pooled + 1x1 conv + norm) and the activation.
TEST(InferencePlan, NnunetResencPooledSkips) {
  const int b = cpu::plan_block_size();
  ModelConfig c;
  c.architecture = "nnunet_resenc";
  c.dims = 3;
  c.depth = 2;
  c.features_per_stage = {b, 2 * b, 2 * b};
  c.n_blocks_per_stage = {1, 2, 1};
  c.n_conv_per_stage_decoder = {1, 2};
  c.pool_sizes = {{1, 2, 2}, {2, 2, 2}};
  c.kernel_sizes = {{1, 3, 3}, {3, 3, 3}, {3, 3, 3}};
  expect_plan_matches(c, Shape{1, 1, 4, 8, 12}, "3D nnunet_resenc, pooled skips");
  c.dims = 2;
  c.stem_channels = 2 * b;  // stage 0's first block projects its skip at stride 1
  c.pool_sizes = {{1, 2, 1}, {1, 2, 2}};
  c.kernel_sizes = {{1, 3, 3}, {1, 3, 3}, {1, 1, 3}};
  expect_plan_matches(c, Shape{1, 1, 1, 16, 12}, "2D nnunet_resenc, stem projection");
}

TEST(InferencePlan, Residual2dBatchNormOneConv) {
  ModelConfig c = base2d();
  c.norm = NormKind::Batch;
  c.residual = true;
  c.convs_per_stage = 1;
  c.in_channels = 2;
  // 2 or 3 input channels: oneDNN 2.6 picks its reference kernel for the first convolution on
  // AVX2 (6% of this small network's FLOPs, 3x its time), so only the per-op path is checked
  // there; a single channel gets jit kernels and a plan.
  expect_plan_matches(c, Shape{1, 2, 1, 20, 12}, "2D residual, batch norm, 2 channels",
                      /*require_plan=*/false);
  c.in_channels = 1;
  c.base_filters = 32;  // the 1x1 skip conv of the 1-channel input (a reference kernel) is
                        // then under 2% of the FLOPs, as in real residual U-Nets
  expect_plan_matches(c, Shape{1, 1, 1, 20, 12}, "2D residual, batch norm, one conv");
}

// The plan fuses ReLU and leaky ReLU only: a graph with sigmoid or tanh gets no plan, and the
// network's eval forward is the per-op one (whose numbers test_golden checks against PyTorch).
TEST(InferencePlan, SigmoidAndTanhNetworksRunOpByOp) {
  auto be = make_backend(Device::CPU);
  for (Activation a : {Activation::Sigmoid, Activation::Tanh}) {
    ModelConfig c = base2d();
    c.activation = a;
    const Shape xs{1, 1, 1, 16, 16};
    EXPECT_EQ(be->compile(nn::build_unet_graph(c), xs), nullptr) << activation_name(a);
    c.activation = Activation::ReLU;
    EXPECT_NE(be->compile(nn::build_unet_graph(c), xs), nullptr) << "the same net with ReLU";
  }
}

// A plan exists to be faster than the per-op path: one whose main convolutions would run
// oneDNN's reference kernels (3D, 4 channels on 8-float blocks: 50x slower than per-op), or any
// transposed conv its reference deconvolution (with the direct algorithm the main convolutions
// would be reference kernels here, with Winograd they are not, but the 8 -> 4 channel transposed
// conv still is: 7x slower than per-op for the whole network), is not built, and the per-op
// forward serves that network.
TEST(InferencePlan, NeverBuiltOnReferenceKernels) {
  auto be = make_backend(Device::CPU);
  ModelConfig c;
  c.dims = 3;
  c.base_filters = 4;
  c.depth = 2;
  const Shape xs{1, 1, 16, 16, 16};
  auto plan = be->compile(nn::build_unet_graph(c), xs);
  EXPECT_EQ(plan, nullptr) << plan->describe();
  BackendOptions direct;
  direct.conv_algorithm = "direct";
  auto plan_direct = make_backend(Device::CPU, direct)->compile(nn::build_unet_graph(c), xs);
  EXPECT_EQ(plan_direct, nullptr) << plan_direct->describe();
  Network net(c, *be);
  net.init_weights(3);
  Tensor x = Tensor::empty(xs);
  randomize(x, 9, -1.f, 1.f);
  Tensor a = net.forward(x, false)[0].clone();
  net.set_inference_plan(false);
  Tensor b = net.forward(x, false)[0];
  EXPECT_ALLCLOSE(a, b, (test::Tolerance{1e-5, 0.0}));
  for (ModelConfig cfg : {base2d(), c}) {
    cfg.base_filters = 16;  // a multiple of the block size on AVX2 (8) and AVX-512 (16)
    auto p = be->compile(nn::build_unet_graph(cfg), cfg.dims == 2 ? Shape{1, 1, 1, 16, 16} : xs);
    ASSERT_NE(p, nullptr) << "16-channel networks get a plan";
    EXPECT_EQ(p->describe().find(": ref"), std::string::npos) << p->describe();
  }
}

// On AVX2 machines every 3x3 (3x3x3) convolution that reads blocked activations is a Winograd
// step (the first one reads the caller's layout and stays oneDNN's); "direct" turns them off.
TEST(InferencePlan, WinogradStepsWhereAvx2RunsThem) {
  if (!cpu::plan_uses_winograd())
    GTEST_SKIP() << "the plan uses direct convolutions here (no AVX2+FMA, or AVX-512 blocks)";
  ModelConfig c3 = base2d();
  c3.dims = 3;
  for (const ModelConfig& c : {base2d(), c3}) {
    const Shape xs = c.dims == 2 ? Shape{1, 1, 1, 16, 16} : Shape{1, 1, 8, 8, 8};
    const std::string step = c.dims == 2 ? "useg winograd F(2x2,3x3) avx2"
                                         : "useg winograd F(2x2x2,3x3x3) avx2";
    auto plan = make_backend(Device::CPU)->compile(nn::build_unet_graph(c), xs);
    ASSERT_NE(plan, nullptr);
    const std::string d = plan->describe();
    // 2 stages x 2 convs in the encoder + bottleneck, 2 per decoder stage, minus the first conv
    size_t n = 0;
    for (size_t at = d.find(step); at != std::string::npos; at = d.find(step, at + 1)) ++n;
    EXPECT_EQ(n, 9u) << d;
    EXPECT_NE(d.find("encoder.0.blocks.0.conv: jit"), std::string::npos) << d;
    BackendOptions direct;
    direct.conv_algorithm = "direct";
    auto plain = make_backend(Device::CPU, direct)->compile(nn::build_unet_graph(c), xs);
    ASSERT_NE(plain, nullptr);
    EXPECT_EQ(plain->describe().find("winograd"), std::string::npos) << plain->describe();
  }
}

TEST(InferencePlan, WeightsChangedAfterAPlanRunAreUsed) {
  auto be = make_backend(Device::CPU);
  ModelConfig c = base2d();
  Network net(c, *be);
  Tensor x = Tensor::empty(Shape{1, 1, 1, 16, 16});
  randomize(x, 5, -1.f, 1.f);
  Tensor before = net.forward(x, false)[0].clone();
  for (Parameter* p : net.parameters())
    if (p->name == "head.bias") p->value.data()[1] += 1.0f;
  Tensor after = net.forward(x, false)[0];
  net.set_inference_plan(false);
  Tensor ref = net.forward(x, false)[0];
  EXPECT_ALLCLOSE(after, ref, (test::Tolerance{1e-4, 0.0}));
  EXPECT_NEAR(after.at(0, 1, 0, 3, 3) - before.at(0, 1, 0, 3, 3), 1.0, 1e-4);
}

TEST(InferencePlan, ShapeChangeBuildsANewPlan) {
  auto be = make_backend(Device::CPU);
  Network net(base2d(), *be);
  for (int64_t h : {16, 32, 16}) {
    Tensor x = Tensor::empty(Shape{1, 1, 1, h, 12});
    randomize(x, h, -1.f, 1.f);
    Tensor got = net.forward(x, false)[0].clone();
    net.set_inference_plan(false);
    Tensor ref = net.forward(x, false)[0];
    net.set_inference_plan(true);
    EXPECT_ALLCLOSE(got, ref, (test::Tolerance{1e-4, 0.0})) << "height " << h;
  }
}

}  // namespace
}  // namespace useg
