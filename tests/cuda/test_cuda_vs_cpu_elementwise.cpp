// CUDA vs CPU: activations, elementwise arithmetic, reductions to a host value, concat/split,
// softmax and dropout on every activation shape (tolerances: cuda_vs_cpu.h).
#include <cmath>
#include <limits>
#include <tuple>

#include "cuda/cuda_vs_cpu.h"

namespace useg::test {
namespace {

class CudaVsCpuElementwise : public CudaVsCpuTest<Shape> {};

TEST_P(CudaVsCpuElementwise, FillCopyAddMulAxpyScale) {
  const Shape s = GetParam();
  const Tensor a = random_tensor(s, 1), b = random_tensor(s, 2);
  Tensor g = gpu_empty(s);
  gpu().fill(g, -1.25f);
  EXPECT_ALLCLOSE(host(g), Tensor::full(s, -1.25f), kExact);
  gpu().copy(on_gpu(a), g);
  EXPECT_ALLCLOSE(host(g), a, kExact);

  Tensor yc = Tensor::empty(s), yg = gpu_empty(s);
  cpu().add(a, b, yc);
  gpu().add(on_gpu(a), on_gpu(b), yg);
  EXPECT_ALLCLOSE(host(yg), yc, kExact);
  cpu().mul(a, b, yc);
  gpu().mul(on_gpu(a), on_gpu(b), yg);
  EXPECT_ALLCLOSE(host(yg), yc, kExact);

  Tensor accc = b.clone(), accg = on_gpu(b);
  cpu().axpy(-0.75f, a, accc);
  gpu().axpy(-0.75f, on_gpu(a), accg);
  EXPECT_ALLCLOSE(host(accg), accc, kUlps);
  cpu().scale(accc, 3.5f);
  gpu().scale(accg, 3.5f);
  EXPECT_ALLCLOSE(host(accg), accc, kUlps);
  // In place: y aliases a.
  Tensor ic = a.clone(), ig = on_gpu(a);
  cpu().add(ic, b, ic);
  gpu().add(ig, on_gpu(b), ig);
  EXPECT_ALLCLOSE(host(ig), ic, kExact);
}

TEST_P(CudaVsCpuElementwise, SumSquaresAndAllFinite) {
  const Shape s = GetParam();
  const Tensor x = random_tensor(s, 3);
  const double c = cpu().sum_squares(x), g = gpu().sum_squares(on_gpu(x));
  EXPECT_NEAR(g, c, 1e-12 * c);
  EXPECT_TRUE(gpu().all_finite(on_gpu(x)));
  for (int64_t at : {int64_t(0), x.numel() / 2, x.numel() - 1})
    for (float bad : {std::numeric_limits<float>::quiet_NaN(),
                      std::numeric_limits<float>::infinity(),
                      -std::numeric_limits<float>::infinity()}) {
      Tensor y = x.clone();
      y.data()[at] = bad;
      EXPECT_EQ(gpu().all_finite(on_gpu(y)), cpu().all_finite(y)) << bad << " at " << at;
    }
}

TEST_P(CudaVsCpuElementwise, ConcatAndSplit) {
  const Shape sa = GetParam();
  const Shape sb{sa.n(), sa.c() % 3 + 1, sa.d(), sa.h(), sa.w()};
  const Shape sy{sa.n(), sa.c() + sb.c(), sa.d(), sa.h(), sa.w()};
  const Tensor a = random_tensor(sa, 4), b = random_tensor(sb, 5);
  Tensor yc = Tensor::empty(sy), yg = gpu_empty(sy);
  cpu().concat_channels(a, b, yc);
  gpu().concat_channels(on_gpu(a), on_gpu(b), yg);
  EXPECT_ALLCLOSE(host(yg), yc, kExact);
  Tensor ag = gpu_empty(sa), bg = gpu_empty(sb);
  gpu().split_channels(yg, ag, bg);
  EXPECT_ALLCLOSE(host(ag), a, kExact);
  EXPECT_ALLCLOSE(host(bg), b, kExact);
}

TEST_P(CudaVsCpuElementwise, Softmax) {
  const Shape s = GetParam();
  const Tensor x = random_tensor(s, 6, -8.f, 8.f);
  Tensor yc = Tensor::empty(s), yg = gpu_empty(s);
  cpu().softmax_channels(x, yc);
  gpu().softmax_channels(on_gpu(x), yg);
  EXPECT_ALLCLOSE(host(yg), yc, kTranscend);
  Tensor inplace = on_gpu(x);
  gpu().softmax_channels(inplace, inplace);
  EXPECT_ALLCLOSE(host(inplace), yc, kTranscend);
}

// The mask must be the CPU's bit for bit (counter-based: ops/dropout.h).
TEST_P(CudaVsCpuElementwise, DropoutMaskIsTheCpusBitForBit) {
  const Shape s = GetParam();
  const Tensor x = random_tensor(s, 7);
  for (float p : {0.f, 0.3f, 0.5f, 1.f}) {
    SCOPED_TRACE(p);
    Tensor yc = Tensor::empty(s), mc = Tensor::empty(s), yg = gpu_empty(s), mg = gpu_empty(s);
    cpu().dropout_forward(x, p, 1234, yc, mc);
    gpu().dropout_forward(on_gpu(x), p, 1234, yg, mg);
    EXPECT_ALLCLOSE(host(mg), mc, kExact);
    EXPECT_ALLCLOSE(host(yg), yc, kExact);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaVsCpuElementwise, ::testing::ValuesIn(activation_shapes()),
                         cuda_shape_name);

class CudaVsCpuActivation : public CudaVsCpuTest<std::tuple<Activation, Shape>> {};

TEST_P(CudaVsCpuActivation, ForwardBackwardAndInPlace) {
  const Activation a = std::get<0>(GetParam());
  const Shape s = std::get<1>(GetParam());
  const float alpha = 0.01f;
  Tensor x = random_tensor(s, 8, -3.f, 3.f);
  if (x.numel() > 1) x.data()[1] = 0.f;  // the derivative at exactly 0
  const Tensor dy = random_tensor(s, 9);
  const Tolerance tol = (a == Activation::Sigmoid || a == Activation::Tanh) ? kTranscend : kExact;
  Tensor yc = Tensor::empty(s), dxc = Tensor::empty(s);
  cpu().activation_forward(a, alpha, x, yc);
  cpu().activation_backward(a, alpha, x, yc, dy, dxc);
  Tensor xg = on_gpu(x), yg = gpu_empty(s), dxg = gpu_empty(s);
  gpu().activation_forward(a, alpha, xg, yg);
  gpu().activation_backward(a, alpha, xg, yg, on_gpu(dy), dxg);
  EXPECT_ALLCLOSE(host(yg), yc, tol);
  // Backward through the GPU's own y: compare against the CPU's from the same y.
  Tensor dxc2 = Tensor::empty(s);
  cpu().activation_backward(a, alpha, x, host(yg), dy, dxc2);
  EXPECT_ALLCLOSE(host(dxg), dxc2, kUlps);
  // y aliases x, dx aliases dy.
  Tensor inplace = on_gpu(x);
  gpu().activation_forward(a, alpha, inplace, inplace);
  EXPECT_ALLCLOSE(host(inplace), host(yg), kExact);
  Tensor grad = on_gpu(dy);
  gpu().activation_backward(a, alpha, xg, yg, grad, grad);
  EXPECT_ALLCLOSE(host(grad), host(dxg), kExact);
}

std::string activation_param_name(
    const ::testing::TestParamInfo<std::tuple<Activation, Shape>>& info) {
  return std::string(activation_name(std::get<0>(info.param))) + "_" +
         cuda_shape_name(::testing::TestParamInfo<Shape>(std::get<1>(info.param), 0));
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, CudaVsCpuActivation,
    ::testing::Combine(::testing::Values(Activation::Identity, Activation::ReLU,
                                         Activation::LeakyReLU, Activation::Sigmoid,
                                         Activation::Tanh),
                       ::testing::ValuesIn(activation_shapes())),
    activation_param_name);

}  // namespace
}  // namespace useg::test
