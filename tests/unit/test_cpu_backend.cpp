// CPU-backend specifics: the oneDNN op cache is reused across calls with the same shapes, the
// thread option reaches OpenMP, oneDNN errors become useg::Error with the failed call's text,
// and empty batches are handled without calling oneDNN.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>

#include "common/compare.h"
#include "common/expect_error.h"
#include "common/shapes.h"
#include "cpu/cpu_backend.h"
#include "cpu/dnnl_context.h"
#include "cpu/inference_plan.h"
#include "cpu/winograd.h"
#include "useg/backend.h"

namespace useg {
namespace {

ConvGeom geom_3x3_same() {
  ConvGeom g;
  g.kernel = {1, 3, 3};
  g.pad = {0, 1, 1};
  return g;
}

TEST(CpuBackend, RepeatedShapesReuseCachedPrimitives) {
  auto be = make_backend(Device::CPU);
  cpu::DnnlContext& ctx = dynamic_cast<cpu::CpuBackend&>(be->impl()).dnnl();
  ConvGeom g = geom_3x3_same();
  Tensor x = test::random_tensor(Shape{1, 8, 1, 6, 5}, 1);
  Tensor w = test::random_tensor(Shape{8, 8, 1, 3, 3}, 2);
  Tensor y = Tensor::empty(Shape{1, 8, 1, 6, 5});
  for (int i = 0; i < 3; ++i) be->conv_forward(x, w, nullptr, y, g);
  EXPECT_EQ(ctx.cache_misses(), 1);
  EXPECT_EQ(ctx.cache_hits(), 2);

  Tensor bias = Tensor::zeros(Shape{8});  // with a bias it is another primitive
  be->conv_forward(x, w, &bias, y, g);
  Tensor x2 = test::random_tensor(Shape{2, 8, 1, 6, 5}, 3), y2 = Tensor::empty(x2.shape());
  be->conv_forward(x2, w, nullptr, y2, g);  // another batch size, another primitive
  EXPECT_EQ(ctx.cache_misses(), 3);

  PoolGeom pg;
  Tensor py = Tensor::empty(Shape{1, 8, 1, 3, 2});
  be->maxpool_forward(x, py, pg);  // one pooling primitive, reused
  be->maxpool_forward(x, py, pg);
  Tensor pdx = Tensor::empty(x.shape());
  be->maxpool_backward(x, py, pdx, pg);  // our own loop: no oneDNN primitive
  EXPECT_EQ(ctx.cache_misses(), 4);
  EXPECT_EQ(ctx.cache_size(), 4u);
}

TEST(CpuBackend, ThreadsOptionSetsOpenMPThreads) {
  int before = omp_get_max_threads();
  BackendOptions opts;
  opts.threads = 1;
  auto be = make_backend(Device::CPU, opts);
  EXPECT_EQ(omp_get_max_threads(), 1);
  omp_set_num_threads(before);
  opts.threads = -2;
  test::expect_error([&] { make_backend(Device::CPU, opts); },
                     "cpu backend: threads must be >= 0 (0 = the OpenMP default), got -2");
}

TEST(CpuBackend, PrecisionIsFloat32Only) {
  BackendOptions opts;
  opts.precision = "fp32";
  EXPECT_EQ(make_backend(Device::CPU, opts)->name(), "cpu");
  for (const char* p : {"tf32", "fp16", "bf16"}) {
    opts.precision = p;
    test::expect_error([&] { make_backend(Device::CPU, opts); },
                       "precision " + std::string(p) +
                           " needs --device cuda: the CPU backend computes in float32 (expected "
                           "fp32)");
  }
  opts.precision = "fp8";
  for (Device d : {Device::CPU, Device::CUDA})  // checked before any device is touched
    test::expect_error([&] { make_backend(d, opts); },
                       "precision 'fp8' is not one of: fp32, tf32, fp16, bf16");
}

TEST(CpuBackend, ConvAlgorithmIsAutoOrDirect) {
  BackendOptions opts;
  for (const char* a : {"", "auto", "direct"}) {
    opts.conv_algorithm = a;
    EXPECT_EQ(make_backend(Device::CPU, opts)->name(), "cpu") << a;
  }
  opts.conv_algorithm = "fft";
  for (Device d : {Device::CPU, Device::CUDA})  // checked before any device is touched
    test::expect_error([&] { make_backend(d, opts); },
                       "conv algorithm 'fft' is not one of: auto, direct");
}

// The training convolutions' Winograd path (src/ops/conv/cpu_train.cpp): with conv_algorithm
// auto where oneDNN runs at AVX2, 3x3 and 3x3x3 convolutions with stride 1 and padding 1 and at
// least 4096 positions per sample run backward-data, and forward where oneDNN reads the input
// blocked, as WinogradConv (one per direction and shape, cached), within float rounding of
// oneDNN's direct convolution; backward-weights and dbias are oneDNN's either way (exact). With
// "direct", or below 4096 positions, none is made and the results are oneDNN's.
TEST(CpuBackend, TrainingConvolutionsRunWinogradWhereItApplies) {
  struct Case {
    Shape x;
    int64_t cout;
    std::array<int, 3> kernel;
    size_t min_winograd;  // directions at least run by Winograd where the plan uses it
  };
  // Which directions get blocked layouts is oneDNN's choice (8- or 16-blocks, or plain for few
  // channels), so beyond the first case only "at least" is asserted.
  const std::vector<Case> cases{
      {Shape{2, 16, 1, 64, 70}, 16, {1, 3, 3}, 2},   // 2D
      {Shape{1, 16, 16, 17, 17}, 8, {3, 3, 3}, 1},   // 3D, odd sizes
      {Shape{2, 8, 4, 32, 33}, 12, {1, 3, 3}, 1},    // anisotropic kernel on a volume
      {Shape{1, 24, 16, 16, 17}, 20, {3, 3, 3}, 1},  // channels off the blocks on both sides
      {Shape{1, 1, 1, 64, 65}, 8, {1, 3, 3}, 1},     // one input channel: x read plain
      {Shape{2, 16, 1, 12, 10}, 16, {1, 3, 3}, 0},   // 120 positions: oneDNN's
  };
  // Where the plan uses Winograd (oneDNN at AVX2); ONEDNN_MAX_CPU_ISA=AVX2 makes an AVX-512
  // machine one.
  const bool avx2_only = cpu::plan_uses_winograd();
  BackendOptions direct_opts;
  direct_opts.conv_algorithm = "direct";
  for (const Case& c : cases) {
    auto be = make_backend(Device::CPU), direct = make_backend(Device::CPU, direct_opts);
    ConvGeom g;
    g.kernel = c.kernel;
    for (int a = 0; a < 3; ++a) g.pad[a] = c.kernel[a] == 3 ? 1 : 0;
    const Shape ws{c.cout, c.x[1], c.kernel[0], c.kernel[1], c.kernel[2]};
    const Shape ys = conv_output_shape(c.x, c.cout, g);
    Tensor x = test::random_tensor(c.x, 1), w = test::random_tensor(ws, 2);
    Tensor b = test::random_tensor(Shape{c.cout}, 3), dy = test::random_tensor(ys, 4);
    struct Out {
      Tensor y, dx, dw, db;
    };
    auto run = [&](Backend& on) {
      Out o{Tensor::empty(ys), Tensor::empty(c.x), Tensor::empty(ws), Tensor::empty(Shape{c.cout})};
      auto saved = on.conv_forward_training(x, w, &b, o.y, g);
      on.conv_backward(x, dy, w, &o.dx, o.dw, &o.db, g, saved);
      return o;
    };
    const Out fast = run(*be), ref = run(*direct);
    Tensor y_op = Tensor::empty(ys), dx_op = Tensor::empty(c.x);
    direct->conv_forward(x, w, &b, y_op, g);
    direct->conv_backward_data(dy, w, dx_op, g);
    EXPECT_TRUE(test::allclose(ref.y, y_op, test::Tolerance{0, 0})) << c.x.str();
    EXPECT_TRUE(test::allclose(ref.dx, dx_op, test::Tolerance{1e-6, 1e-6})) << c.x.str();
    EXPECT_TRUE(test::allclose(fast.y, ref.y, test::Tolerance{2e-5, 2e-5})) << c.x.str() << " forward";
    EXPECT_TRUE(test::allclose(fast.dx, ref.dx, test::Tolerance{2e-5, 2e-5})) << c.x.str() << " dx";
    EXPECT_TRUE(test::allclose(fast.dw, ref.dw, test::Tolerance{0, 0})) << c.x.str() << " dw";
    EXPECT_TRUE(test::allclose(fast.db, ref.db, test::Tolerance{0, 0})) << c.x.str() << " dbias";
    const size_t made = dynamic_cast<cpu::CpuBackend&>(be->impl()).training_winograd().size();
    if (avx2_only) {
      EXPECT_GE(made, c.min_winograd) << c.x.str();
      EXPECT_LE(made, c.min_winograd ? 2u : 0u) << c.x.str();
    } else {
      EXPECT_EQ(made, 0u) << c.x.str();
    }
    EXPECT_EQ(dynamic_cast<cpu::CpuBackend&>(direct->impl()).training_winograd().size(), 0u);
  }
}

TEST(CpuBackend, OneDnnErrorsBecomeUsegErrorsWithTheCallText) {
  dnnl::error e(dnnl_unimplemented, "could not create a primitive descriptor iterator");
  test::expect_error([&] { cpu::throw_dnnl_error(e, "creating primitives for conv_forward x"); },
                     "creating primitives for conv_forward x: oneDNN could not create a "
                     "primitive descriptor iterator (unimplemented)");
}

TEST(CpuBackend, EmptyBatchIsANoOpAndZeroesWeightGradients) {
  auto be = make_backend(Device::CPU);
  ConvGeom g = geom_3x3_same();
  Tensor x = Tensor::empty(Shape{0, 3, 1, 5, 5}), dy = Tensor::empty(Shape{0, 4, 1, 5, 5});
  Tensor dw = Tensor::full(Shape{4, 3, 1, 3, 3}, NAN), db = Tensor::full(Shape{4}, NAN);
  be->conv_backward_weights(x, dy, dw, &db, g);
  EXPECT_TRUE(test::allclose(dw, Tensor::zeros(dw.shape())));
  EXPECT_TRUE(test::allclose(db, Tensor::zeros(db.shape())));
  Tensor w = Tensor::zeros(dw.shape()), y = Tensor::empty(dy.shape());
  be->conv_forward(x, w, nullptr, y, g);  // nothing to compute, nothing thrown
}

}  // namespace
}  // namespace useg
