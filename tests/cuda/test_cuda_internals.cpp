// Internals of the CUDA backend that the public API does not reach: the caching allocator, the
// check macros, and the kernels that run only after a cuDNN call (bias add, bias gradient) or
// in the fp16/bf16 mode (casts), through the very launch wrappers the backend calls. Compiled
// where the CUDA headers are (a CUDA build, or cudacpu); skipped at run time without a device.
#if defined(USEG_HAVE_CUDA) || defined(USEG_CUDACPU)

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/compare.h"
#include "common/shapes.h"
#include "cuda/conv_naive.h"
#include "cuda/cuda_check.h"
#include "cuda/device_context.h"
#include "cuda/host/launch_config.h"
#include "cuda/launch.h"
#include "useg/backend.h"
#include "useg/error.h"

namespace useg::test {
namespace {

class CudaInternals : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!device_available(Device::CUDA, &why)) GTEST_SKIP() << "CUDA unavailable: " << why;
    m_backend = make_backend(Device::CUDA);
    m_ctx = gpu::DeviceContext::current();
    ASSERT_TRUE(m_ctx);
  }
  cudaStream_t stream() const { return m_ctx->compute(); }
  std::unique_ptr<Backend> m_backend;
  std::shared_ptr<gpu::DeviceContext> m_ctx;
};

TEST_F(CudaInternals, AllocatorReusesBlocksOfTheSameSizeClass) {
  gpu::DeviceAllocator& a = m_ctx->allocator();
  const auto before = a.stats();
  void* p = a.allocate(1000);
  a.deallocate(p, 1000);
  void* q = a.allocate(1024);  // same 1024-byte class: the cached block comes back
  EXPECT_EQ(q, p);
  EXPECT_EQ(a.stats().reuses, before.reuses + 1);
  a.wait_before_reuse(q, m_ctx->copy());  // the upload stream waits for the free event
  a.deallocate(q, 1024);
  // Tensors of a repeated shape (the next window batch) reuse their blocks: no new cudaMalloc.
  { Tensor t = Tensor::empty(Shape{2, 3, 4, 5, 6}, Device::CUDA); }
  const size_t allocs = a.stats().device_allocs;
  for (int i = 0; i < 5; ++i) Tensor t = Tensor::empty(Shape{2, 3, 4, 5, 6}, Device::CUDA);
  EXPECT_EQ(a.stats().device_allocs, allocs);
  EXPECT_GT(a.stats().cached_bytes, 0u);
  a.release_cached();
  EXPECT_EQ(a.stats().cached_bytes, 0u);
}

// Needs no device: the message is built from the runtime's error tables.
TEST(CudaCheck, MacroNamesTheErrorTheCallAndThePlace) {
  try {
    USEG_CUDA_CHECK(cudaErrorInvalidValue);
    ADD_FAILURE();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.find("CUDA error "), 0u) << m;
    EXPECT_NE(m.find("in `cudaErrorInvalidValue` at "), std::string::npos) << m;
    EXPECT_NE(m.find("test_cuda_internals.cpp:"), std::string::npos) << m;
  }
}

// bias_add and the bias gradient (row sums over N runs per channel, totals as float) on the
// convolution shapes.
TEST_F(CudaInternals, BiasAddAndBiasGradient) {
  for (const ConvCase& cc : conv_cases()) {
    SCOPED_TRACE(cc.name);
    const Shape ys = conv_output_shape(cc.x, cc.cout, cc.g);
    const Tensor y0 = random_tensor(ys, 1), bias = random_tensor(Shape{ys.c()}, 2);
    Tensor y = y0.to(Device::CUDA);
    const Tensor bd = bias.to(Device::CUDA);
    gpu::launch_bias_add(y.data(), bd.data(), ys.n(), ys.c(), ys.spatial(), stream());
    ref::Vec expected = ref::to_vec(y0);
    naive::add_bias(expected, ys, ref::to_vec(bias));
    EXPECT_ALLCLOSE(y.to(Device::CPU), ref::to_tensor(expected, ys), Tolerance{0, 0});

    const gpu::RowLayout l{ys.c(), ys.n(), ys.spatial(), ys.spatial(), ys.c() * ys.spatial()};
    gpu::DeviceBuffer partials(m_ctx->allocator(),
                               size_t(gpu::reduce_partials_size(l, 1)) * sizeof(double));
    Tensor db = Tensor::empty(Shape{ys.c()}, Device::CUDA);
    const Tensor dy = y0.to(Device::CUDA);
    gpu::launch_row_sum(dy.data(), l, partials.as<double>(), stream());
    gpu::launch_row_totals(partials.as<double>(), l.rows, gpu::reduce_chunks(l.row_elements()), 1,
                           nullptr, db.data(), stream());
    EXPECT_ALLCLOSE(db.to(Device::CPU),
                    ref::to_tensor(naive::bias_gradient(ref::to_vec(y0), ys), Shape{ys.c()}),
                    Tolerance{1e-6, 1e-6});
  }
}

// float -> half / bfloat16 -> float round trips: round to nearest, so the relative error is at
// most 2^-11 (half, within its normal range) and 2^-8 (bfloat16).
TEST_F(CudaInternals, HalfAndBfloat16Casts) {
  const Tensor x = random_tensor(Shape{1, 1, 3, 50, 61}, 3, -100.f, 100.f);
  const int64_t n = x.numel();
  const Tensor xd = x.to(Device::CUDA);
  gpu::DeviceBuffer half(m_ctx->allocator(), size_t(n) * 2);
  Tensor back = Tensor::empty(x.shape(), Device::CUDA);
  gpu::launch_float_to_half(xd.data(), half.as<void>(), n, stream());
  gpu::launch_half_to_float(half.as<void>(), back.data(), n, stream());
  EXPECT_ALLCLOSE(back.to(Device::CPU), x, Tolerance{1e-4, std::ldexp(1.0, -11)});
  gpu::launch_float_to_bf16(xd.data(), half.as<void>(), n, stream());
  gpu::launch_bf16_to_float(half.as<void>(), back.data(), n, stream());
  EXPECT_ALLCLOSE(back.to(Device::CPU), x, Tolerance{0, std::ldexp(1.0, -8)});
  // Exactly representable values survive both.
  const Tensor small = Tensor::full(Shape{1, 1, 1, 1, 8}, 0.375f);
  const Tensor sd = small.to(Device::CUDA);
  Tensor out = Tensor::empty(small.shape(), Device::CUDA);
  gpu::launch_float_to_bf16(sd.data(), half.as<void>(), 8, stream());
  gpu::launch_bf16_to_float(half.as<void>(), out.data(), 8, stream());
  EXPECT_ALLCLOSE(out.to(Device::CPU), small, Tolerance{0, 0});
}

// An empty range launches nothing (a grid of 0 blocks would be an invalid configuration).
TEST_F(CudaInternals, EmptyRangesLaunchNothing) {
  gpu::launch_fill(nullptr, 0, 1.f, stream());
  gpu::launch_softmax_channels(nullptr, nullptr, 0, 3, 5, stream());
  gpu::launch_maxpool_forward(nullptr, nullptr, 0, ops::PoolDims{}, stream());
  gpu::launch_row_sum(nullptr, gpu::RowLayout{0, 1, 5, 5, 0}, nullptr, stream());
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

}  // namespace
}  // namespace useg::test

#endif  // USEG_HAVE_CUDA || USEG_CUDACPU
