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
