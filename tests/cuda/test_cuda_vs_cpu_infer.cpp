// CUDA vs CPU and vs the naive references of conv_naive.h: sliding-window accumulation, argmax, flip, max pooling, convolution and
// transposed convolution with bias (tolerances: cuda_vs_cpu.h).
#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <ostream>
#include <iostream>
#include <vector>

#include "cuda/conv_naive.h"
#include "cuda/cuda_vs_cpu.h"
#include "ops/ref_util.h"

namespace useg::test {
namespace {

class CudaVsCpuInfer : public CudaVsCpuTest<Shape> {};

TEST_P(CudaVsCpuInfer, WindowAccumulateArgmaxAndFlip) {
  const Shape ps = GetParam();
  const Shape as{1, ps.c(), ps.d() + 3, ps.h() + 2, ps.w() + 1};
  const Shape ss{1, 1, as.d(), as.h(), as.w()};
  const Tensor probs = random_tensor(ps, 1, 0.f, 1.f);
  const Tensor weight = random_tensor(Shape{1, 1, ps.d(), ps.h(), ps.w()}, 2, 0.1f, 1.f);
  Tensor ac = Tensor::zeros(as), sc = Tensor::zeros(ss);
  Tensor ag = Tensor::zeros(as, Device::CUDA), sg = Tensor::zeros(ss, Device::CUDA);
  const Tensor pg = on_gpu(probs), wg = on_gpu(weight);
  // Inside, overlapping, overhanging every face, and entirely outside.
  const std::vector<std::array<int64_t, 3>> offsets{
      {0, 0, 0}, {1, 1, 1}, {-1, -2, -1}, {3, 2, 1}, {int64_t(as.d()), 0, 0}};
  for (int64_t n = 0; n < ps.n(); ++n)
    for (const auto& off : offsets) {
      cpu().window_accumulate(probs, n, weight, off, ac, sc);
      gpu().window_accumulate(pg, n, wg, off, ag, sg);
    }
  EXPECT_ALLCLOSE(host(ag), ac, kUlps);
  EXPECT_ALLCLOSE(host(sg), sc, kUlps);

  Tensor x = random_tensor(ps, 3);
  if (ps.c() > 1 && ps.spatial() > 0) x.data()[ps.spatial()] = x.data()[0];  // a tie
  const Shape ls{ps.n(), 1, ps.d(), ps.h(), ps.w()};
  Tensor lc = Tensor::empty(ls), lg = gpu_empty(ls);
  cpu().argmax_channels(x, lc);
  gpu().argmax_channels(on_gpu(x), lg);
  EXPECT_ALLCLOSE(host(lg), lc, kExact);

  for (int axes = 0; axes < 8; ++axes) {
    SCOPED_TRACE(axes);
    Tensor fc = Tensor::empty(ps), fg = gpu_empty(ps);
    cpu().flip_spatial(x, axes, fc);
    gpu().flip_spatial(on_gpu(x), axes, fg);
    EXPECT_ALLCLOSE(host(fg), fc, kExact);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaVsCpuInfer, ::testing::ValuesIn(activation_shapes()),
                         cuda_shape_name);

// Compares a CUDA result with the naive reference and with the CPU backend's.
void expect_matches(const Tensor& gpu_result, const std::function<Tensor()>& cpu_op,
                    const ref::Vec& naive, Tolerance tol) {
  const Tensor g = gpu_result.to(Device::CPU);
  EXPECT_ALLCLOSE(g, ref::to_tensor(naive, g.shape()), tol) << "vs the naive reference";
  EXPECT_ALLCLOSE(g, cpu_op(), tol) << "vs the CPU backend";
}

class CudaVsCpuPool : public CudaVsCpuTest<PoolCase> {};

TEST_P(CudaVsCpuPool, ForwardAndBackward) {
  const PoolCase pc = GetParam();
  const Shape xs = pc.x, ys = pool_output_shape(xs, pc.g);
  Tensor x = random_tensor(xs, 4);
  x.data()[1] = x.data()[0];  // a tie inside the first window: dy goes to the first
  const Tensor dy = random_tensor(ys, 5);
  Tensor yg = gpu_empty(ys), dxg = gpu_empty(xs);
  const Tensor xg = on_gpu(x);
  gpu().maxpool_forward(xg, yg, pc.g);
  gpu().maxpool_backward(xg, on_gpu(dy), dxg, pc.g);
  const ref::Vec xv = ref::to_vec(x), dyv = ref::to_vec(dy);
  expect_matches(
      yg,
      [&] {
        Tensor y = Tensor::empty(ys);
        cpu().maxpool_forward(x, y, pc.g);
        return y;
      },
      naive::maxpool_forward(xv, xs, pc.g, ys), kExact);
  expect_matches(
      dxg,
      [&] {
        Tensor dx = Tensor::empty(xs);
        cpu().maxpool_backward(x, dy, dx, pc.g);
        return dx;
      },
      naive::maxpool_backward(xv, xs, dyv, ys, pc.g), kUlps);
}

INSTANTIATE_TEST_SUITE_P(Cases, CudaVsCpuPool, ::testing::ValuesIn(pool_cases()),
                         [](const ::testing::TestParamInfo<PoolCase>& i) { return i.param.name; });

// Convolutions (cuDNN) over `terms` products of values in [-1, 1], compared with the naive
// double reference and the CPU backend:
//  - strict fp32 (what every other test uses, cuda_vs_cpu.h): float products summed in float in
//    whatever order cuDNN's algorithm takes (FFT and Winograd variants included): abs
//    2e-5 * sqrt(terms) + rel 1e-5;
//  - TF32 (the CUDA backend's default, CudaVsCpuConvTf32): operands rounded to a 10-bit
//    mantissa (relative error 2^-11 each) before the float sum: abs 2e-3 * sqrt(terms) +
//    rel 2e-3, a hundred times looser.
// Any indexing or layout mistake is off by O(0.1) or more, far above both.
Tolerance conv_tolerance_fp32(int64_t terms) {
  return Tolerance{2e-5 * std::sqrt(double(terms)), 1e-5};
}
Tolerance conv_tolerance_tf32(int64_t terms) {
  return Tolerance{2e-3 * std::sqrt(double(terms)), 2e-3};
}

struct ConvParam {
  ConvCase c;
  bool transposed;
};
void PrintTo(const ConvParam& p, std::ostream* os) {  // not a byte dump with padding
  *os << (p.transposed ? "deconv " : "conv ") << p.c.name;
}

// Every pass of one convolution case on the GPU vs the naive reference and the CPU backend, with
// the tolerance `tolerance(terms)` (fp32 or tf32 above).
void check_conv(Backend& cpu, Backend& gpu, const ConvParam& p, Tolerance (*tolerance)(int64_t)) {
  const auto on_gpu = [](const Tensor& x) { return x.to(Device::CUDA); };
  const auto gpu_empty = [](const Shape& s) { return Tensor::empty(s, Device::CUDA); };
  const ConvCase cc = p.c;
  const bool tr = p.transposed;
  const auto& k = cc.g.kernel;
  const Shape xs = cc.x;
  const Shape ws = conv_weight_shape(cc, tr), ys = conv_case_output_shape(cc, tr);
  const Shape bs{cc.cout};
  const Tensor x = random_tensor(xs, 6), w = random_tensor(ws, 7), b = random_tensor(bs, 8);
  const Tensor dy = random_tensor(ys, 9);
  const Tensor xg = on_gpu(x), wg = on_gpu(w), bg = on_gpu(b), dyg = on_gpu(dy);
  Tensor yg = gpu_empty(ys), dxg = gpu_empty(xs), dwg = gpu_empty(ws), dbg = gpu_empty(bs);
  if (tr) {
    gpu.deconv_forward(xg, wg, &bg, yg, cc.g);
    gpu.deconv_backward_data(dyg, wg, dxg, cc.g);
    gpu.deconv_backward_weights(xg, dyg, dwg, &dbg, cc.g);
  } else {
    gpu.conv_forward(xg, wg, &bg, yg, cc.g);
    gpu.conv_backward_data(dyg, wg, dxg, cc.g);
    gpu.conv_backward_weights(xg, dyg, dwg, &dbg, cc.g);
  }
  const ref::Vec xv = ref::to_vec(x), wv = ref::to_vec(w), dyv = ref::to_vec(dy);
  ref::Vec y = tr ? naive::deconv_forward(xv, xs, wv, ws, ys, cc.g)
                  : naive::conv_forward(xv, xs, wv, ws, ys, cc.g);
  naive::add_bias(y, ys, ref::to_vec(b));
  const ref::Vec dx = tr ? naive::deconv_backward_data(dyv, ys, wv, ws, xs, cc.g)
                         : naive::conv_backward_data(dyv, ys, wv, ws, xs, cc.g);
  const ref::Vec dw = tr ? naive::deconv_backward_weights(xv, xs, dyv, ys, ws, cc.g)
                         : naive::conv_backward_weights(xv, xs, dyv, ys, ws, cc.g);
  const int64_t kk = int64_t(k[0]) * k[1] * k[2];
  const Tolerance ty = tolerance(kk * std::max(xs.c(), cc.cout));
  const Tolerance tw = tolerance(xs.n() * xs.spatial() * kk);
  auto cpu_or_throw = [&](const std::function<void(Tensor&)>& f, const Shape& s) {
    Tensor t = Tensor::empty(s);
    f(t);
    return t;
  };
  expect_matches(yg, [&] {
    return cpu_or_throw([&](Tensor& t) {
      tr ? cpu.deconv_forward(x, w, &b, t, cc.g) : cpu.conv_forward(x, w, &b, t, cc.g);
    }, ys);
  }, y, ty);
  expect_matches(dxg, [&] {
    return cpu_or_throw([&](Tensor& t) {
      tr ? cpu.deconv_backward_data(dy, w, t, cc.g) : cpu.conv_backward_data(dy, w, t, cc.g);
    }, xs);
  }, dx, ty);
  Tensor dbc = Tensor::empty(bs);
  bool cpu_dbias = false;
  expect_matches(dwg, [&] {
    return cpu_or_throw([&](Tensor& t) {
      tr ? cpu.deconv_backward_weights(x, dy, t, &dbc, cc.g)
         : cpu.conv_backward_weights(x, dy, t, &dbc, cc.g);
      cpu_dbias = true;
    }, ws);
  }, dw, tw);
  const Tensor db = dbg.to(Device::CPU);
  EXPECT_ALLCLOSE(db, ref::to_tensor(naive::bias_gradient(dyv, ys), bs), kSums);
  if (cpu_dbias) {
    EXPECT_ALLCLOSE(db, dbc, kSums);
  }
}

class CudaVsCpuConv : public CudaVsCpuTest<ConvParam> {};

TEST_P(CudaVsCpuConv, ForwardBackwardDataAndWeightsWithBias) {
  check_conv(cpu(), gpu(), GetParam(), conv_tolerance_fp32);
}

// The CUDA backend's default arithmetic, TF32, with its own tolerance (the others run strict fp32).
class CudaVsCpuConvTf32 : public ::testing::TestWithParam<ConvParam>, public CudaVsCpuBase {
 protected:
  void SetUp() override {
    BackendOptions o;
    o.precision = "tf32";
    if (!make_backends(o)) GTEST_SKIP() << m_skip;
  }
};

TEST_P(CudaVsCpuConvTf32, ForwardBackwardDataAndWeightsWithBias) {
  check_conv(cpu(), gpu(), GetParam(), conv_tolerance_tf32);
}

std::vector<ConvParam> conv_params() {
  std::vector<ConvParam> v;
  for (const ConvCase& c : conv_cases()) v.push_back({c, false});
  for (const ConvCase& c : deconv_cases()) v.push_back({c, true});
  return v;
}

std::string conv_param_name(const ::testing::TestParamInfo<ConvParam>& i) {
  return std::string(i.param.transposed ? "deconv_" : "conv_") + i.param.c.name;
}

INSTANTIATE_TEST_SUITE_P(Cases, CudaVsCpuConv, ::testing::ValuesIn(conv_params()), conv_param_name);
INSTANTIATE_TEST_SUITE_P(Cases, CudaVsCpuConvTf32, ::testing::ValuesIn(conv_params()),
                         conv_param_name);

}  // namespace
}  // namespace useg::test
