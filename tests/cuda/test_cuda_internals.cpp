// Internals of the CUDA backend that the public API does not reach: the caching allocator, the
// check macros, and the kernels that run only after a cuDNN call (bias add, bias gradient) or
// in the fp16/bf16 mode (casts, and the channels-last casts the convolutions use), through the
// very launch wrappers the backend calls. Compiled
// where the CUDA headers are (a CUDA build, or cudacpu); skipped at run time without a device.
#if defined(USEG_HAVE_CUDA) || defined(USEG_CUDACPU)

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "common/compare.h"
#include "common/shapes.h"
#include "cuda/cuda_check.h"
#include "cuda/device_context.h"
#include "cuda/host/launch_config.h"
#include "cuda/launch.h"
#include "ops/channels_last/launch.h"
#include "ops/conv/launch.h"
#include "ops/conv/ref.h"
#include "ops/elementwise/launch.h"
#include "ops/pool/launch.h"
#include "ops/softmax/launch.h"
#include "ops/channels_last/channels_last.h"
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
    for (int64_t i = 0; i < ys.numel(); ++i) expected[i] += bias.data()[(i / ys.spatial()) % ys.c()];
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
                    ref::bias_grad(ref::Array::from(y0)).to_tensor(),
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

// n elements of type T from device memory written on the compute stream.
template <class T>
std::vector<T> download(const void* p, int64_t n, cudaStream_t s) {
  std::vector<T> v(static_cast<size_t>(n));
  if (n > 0)
    USEG_CUDA_CHECK(cudaMemcpyAsync(v.data(), p, size_t(n) * sizeof(T), cudaMemcpyDeviceToHost, s));
  USEG_CUDA_CHECK(cudaStreamSynchronize(s));
  return v;
}
std::vector<uint32_t> float_bits(const Tensor& t) {
  std::vector<uint32_t> b(size_t(t.numel()));
  if (!b.empty()) std::memcpy(b.data(), t.data(), b.size() * sizeof(uint32_t));
  return b;
}
// How many positions differ (the first one is reported).
template <class T>
int64_t count_differences(const std::vector<T>& got, const std::vector<T>& want) {
  int64_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] == want[i]) continue;
    if (bad++ == 0)
      ADD_FAILURE() << "first difference at " << i << ": " << got[i] << " vs " << want[i];
  }
  return bad;
}

// The plain casts and the channels-last ones of one 16-bit type.
struct CastKind {
  const char* name;
  void (*to16)(const float*, void*, int64_t, cudaStream_t);
  void (*to32)(const void*, float*, int64_t, cudaStream_t);
  void (*to16_last)(const float*, void*, int64_t, int64_t, int64_t, cudaStream_t);
  void (*to32_first)(const void*, float*, int64_t, int64_t, int64_t, cudaStream_t);
};
const CastKind kCastKinds[] = {
    {"fp16", gpu::launch_float_to_half, gpu::launch_half_to_float,
     gpu::launch_float_to_half_ndhwc, gpu::launch_half_ndhwc_to_float},
    {"bf16", gpu::launch_float_to_bf16, gpu::launch_bf16_to_float,
     gpu::launch_float_to_bf16_ndhwc, gpu::launch_bf16_ndhwc_to_float}};

// Random values in [-100, 100] with the cases rounding can get wrong up front: NaN, infinities,
// signed zero, half overflow (65520 rounds to infinity), half subnormals, float subnormals, ties.
Tensor cast_input(const Shape& s, uint32_t seed) {
  Tensor x = random_tensor(s, seed, -100.f, 100.f);
  const float special[] = {std::numeric_limits<float>::quiet_NaN(),
                           std::numeric_limits<float>::infinity(),
                           -std::numeric_limits<float>::infinity(), -0.f, 65504.f, 65520.f,
                           -65519.f, 6e-8f, 1e-40f, 1.f + std::ldexp(1.f, -11),
                           1.f + 3 * std::ldexp(1.f, -11), 1.f + std::ldexp(1.f, -8),
                           1.f + 3 * std::ldexp(1.f, -8), 3.4e38f};
  for (size_t i = 0; i < sizeof(special) / sizeof(float) && int64_t(i) < x.numel(); ++i)
    x.data()[i * 7 % size_t(x.numel())] = special[i];
  return x;
}

// The channels-last casts are the plain casts plus a transpose, bit for bit, in both directions,
// and the round trip through NDHWC equals the plain NCDHW round trip. Odd shapes, C = 1, S = 1,
// and more elements than one grid covers (kMaxBlocks * kBlockThreads: the grid-stride loop wraps).
TEST_F(CudaInternals, ChannelsLastCastsAreThePlainCastsTransposed) {
  struct Case {
    int64_t n, c, s;
  };
  const int64_t grid = gpu::kMaxBlocks * gpu::kBlockThreads;
  const Case cases[] = {{2, 3, 5 * 7 * 1}, {1, 1, 35}, {3, 4, 1}, {1, 1, 1}, {2, 5, 11 * 13 * 3},
                        {2, 3, grid / 6 + 5}};
  gpu::DeviceAllocator& alloc = m_ctx->allocator();
  for (const CastKind& k : kCastKinds) {
    for (const Case& cs : cases) {
      SCOPED_TRACE(testing::Message() << k.name << " [" << cs.n << ", " << cs.c << ", " << cs.s
                                      << "]");
      const int64_t total = cs.n * cs.c * cs.s;
      const Shape shape{cs.n, cs.c, cs.s, 1, 1};
      const Tensor x = cast_input(shape, uint32_t(total));
      const Tensor xd = x.to(Device::CUDA);
      gpu::DeviceBuffer plain(alloc, size_t(total) * 2), last(alloc, size_t(total) * 2);
      k.to16(xd.data(), plain.as<void>(), total, stream());
      k.to16_last(xd.data(), last.as<void>(), cs.n, cs.c, cs.s, stream());
      const std::vector<uint16_t> p16 = download<uint16_t>(plain.as<void>(), total, stream());
      const std::vector<uint16_t> l16 = download<uint16_t>(last.as<void>(), total, stream());
      std::vector<uint16_t> want16(static_cast<size_t>(total));
      for (int64_t j = 0; j < total; ++j)
        want16[size_t(j)] = p16[size_t(ops::channels_last_source(j, cs.c, cs.s))];
      EXPECT_EQ(count_differences(l16, want16), 0) << "float -> NDHWC";

      // Back: NDHWC -> NCDHW float vs the plain widening of the same NDHWC data, transposed.
      Tensor first = Tensor::empty(shape, Device::CUDA);
      Tensor widened = Tensor::empty(shape, Device::CUDA);
      k.to32_first(last.as<void>(), first.data(), cs.n, cs.c, cs.s, stream());
      k.to32(last.as<void>(), widened.data(), total, stream());
      const std::vector<uint32_t> f32 = float_bits(first.to(Device::CPU));
      const std::vector<uint32_t> w32 = float_bits(widened.to(Device::CPU));
      std::vector<uint32_t> want32(static_cast<size_t>(total));
      for (int64_t i = 0; i < total; ++i)
        want32[size_t(i)] = w32[size_t(ops::channels_first_source(i, cs.c, cs.s))];
      EXPECT_EQ(count_differences(f32, want32), 0) << "NDHWC -> float";

      // Round trips: NCDHW -> NDHWC -> NCDHW equals NCDHW -> NCDHW.
      Tensor round = Tensor::empty(shape, Device::CUDA);
      k.to32(plain.as<void>(), round.data(), total, stream());
      EXPECT_EQ(count_differences(f32, float_bits(round.to(Device::CPU))), 0) << "round trip";
    }
  }
}

// Round to nearest even, checked against hand-computed bit patterns (not only against the plain
// casts): ties go to the even neighbour, half overflows to infinity, half subnormals survive.
TEST_F(CudaInternals, ChannelsLastCastsRoundToNearestEven) {
  const float one = 1.f;
  const std::vector<float> in{one,
                              one + std::ldexp(1.f, -11),      // half tie -> 1
                              one + 3 * std::ldexp(1.f, -11),  // half tie -> 1 + 2^-9
                              65519.f, 65520.f, -0.f, std::ldexp(1.f, -24),
                              std::ldexp(1.f, -25),                     // half tie -> 0
                              3 * std::ldexp(1.f, -25),                 // half tie -> 2^-23
                              one + std::ldexp(1.f, -8),                // bf16 tie -> 1
                              one + 3 * std::ldexp(1.f, -8),            // bf16 tie -> 1 + 2^-6
                              one + std::ldexp(1.f, -8) + std::ldexp(1.f, -20)};  // bf16 up
  const std::vector<uint16_t> half{0x3C00, 0x3C00, 0x3C02, 0x7BFF, 0x7C00, 0x8000,
                                   0x0001, 0x0000, 0x0002, 0x3C04, 0x3C0C, 0x3C04};
  const std::vector<uint16_t> bf16{0x3F80, 0x3F80, 0x3F80, 0x4780, 0x4780, 0x8000,
                                   0x3380, 0x3300, 0x33C0, 0x3F80, 0x3F82, 0x3F81};
  const int64_t n = int64_t(in.size());
  Tensor x = Tensor::empty(Shape{1, 1, n, 1, 1});
  std::memcpy(x.data(), in.data(), in.size() * sizeof(float));
  const Tensor xd = x.to(Device::CUDA);
  gpu::DeviceBuffer y(m_ctx->allocator(), size_t(n) * 2);
  gpu::launch_float_to_half_ndhwc(xd.data(), y.as<void>(), 1, 1, n, stream());
  EXPECT_EQ(count_differences(download<uint16_t>(y.as<void>(), n, stream()), half), 0);
  gpu::launch_float_to_bf16_ndhwc(xd.data(), y.as<void>(), 1, 1, n, stream());
  EXPECT_EQ(count_differences(download<uint16_t>(y.as<void>(), n, stream()), bf16), 0);
}

// An empty range launches nothing (a grid of 0 blocks would be an invalid configuration).
TEST_F(CudaInternals, EmptyRangesLaunchNothing) {
  gpu::launch_fill(nullptr, 0, 1.f, stream());
  gpu::launch_softmax_channels(nullptr, nullptr, 0, 3, 5, stream());
  gpu::launch_maxpool_forward(nullptr, nullptr, 0, ops::PoolDims{}, stream());
  gpu::launch_row_sum(nullptr, gpu::RowLayout{0, 1, 5, 5, 0}, nullptr, stream());
  gpu::launch_float_to_half_ndhwc(nullptr, nullptr, 0, 3, 5, stream());
  gpu::launch_bf16_ndhwc_to_float(nullptr, nullptr, 2, 0, 5, stream());
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

#ifdef USEG_CUDACPU
// On a GPU, host code that dereferences device memory crashes; under cudacpu the backend's device
// blocks are guarded so that it crashes here too, with the guard's message
// (tools/cudacpu/include/cudacpu_guard.h), while kernels and copies reach them.
TEST_F(CudaInternals, HostAccessToDeviceMemoryEndsTheProcessUnderCudacpu) {
  if (cudacpu::guard().pkey < 0)
    GTEST_SKIP() << "cudacpu's device memory guard is off here (AddressSanitizer, "
                    "CUDACPU_GUARD=0, or no memory protection keys)";
  gpu::DeviceAllocator& a = m_ctx->allocator();
  float* d = static_cast<float*>(a.allocate(256 * sizeof(float)));
  gpu::launch_fill(d, 256, 3.f, stream());
  USEG_CUDA_CHECK(cudaStreamSynchronize(stream()));  // the copy below is on the legacy stream
  float h = 0;
  USEG_CUDA_CHECK(cudaMemcpy(&h, d + 255, sizeof h, cudaMemcpyDeviceToHost));
  EXPECT_EQ(h, 3.f);
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        volatile float* v = d;
        std::fprintf(stderr, "%f\n", static_cast<double>(v[7]));
      },
      "cudacpu: host code accessed device memory at 0x");
  a.deallocate(d, 256 * sizeof(float));
}

// A kernel given a plain host pointer (a CPU tensor's data, a std::vector) faults on a GPU; under
// cudacpu the launch is refused, naming the kernel and the argument.
TEST_F(CudaInternals, KernelGivenAHostPointerIsRefusedUnderCudacpu) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  std::vector<float> host(64, 0.f);
  EXPECT_DEATH(
      {
        gpu::launch_fill(host.data(), 64, 1.f, stream());
        USEG_CUDA_CHECK(cudaStreamSynchronize(stream()));
      },
      "cudacpu: argument 0 of kernel fill_kernel is a host pointer");
}

// Under cudacpu a stream's work runs only when something waits for it, as late as CUDA allows
// (tools/cudacpu/include/cudacpu_streams.h): a read that forgets to wait sees the old data here,
// as it may on a GPU. (CUDACPU_SYNC=1 runs everything at once, the way cudacpu used to.)
TEST_F(CudaInternals, StreamsRunLateUnderCudacpuSoAMissingWaitShows) {
  const char* eager = std::getenv("CUDACPU_SYNC");
  if (eager && std::string(eager) != "0") GTEST_SKIP() << "CUDACPU_SYNC=" << eager;
  gpu::DeviceAllocator& a = m_ctx->allocator();
  float* d = static_cast<float*>(a.allocate(64 * sizeof(float)));
  USEG_CUDA_CHECK(cudaMemset(d, 0, 64 * sizeof(float)));
  gpu::launch_fill(d, 64, 3.f, stream());
  float h = -1;
  // The bug: the legacy stream does not wait for the backend's non-blocking compute stream.
  USEG_CUDA_CHECK(cudaMemcpy(&h, d, sizeof h, cudaMemcpyDeviceToHost));
  EXPECT_EQ(h, 0.f) << "the fill ran before anything waited for it";
  // The fix: wait for the stream (the backend's downloads wait for an event recorded on it).
  USEG_CUDA_CHECK(cudaStreamSynchronize(stream()));
  USEG_CUDA_CHECK(cudaMemcpy(&h, d, sizeof h, cudaMemcpyDeviceToHost));
  EXPECT_EQ(h, 3.f);
  a.deallocate(d, 64 * sizeof(float));
}
#endif

}  // namespace
}  // namespace useg::test

#endif  // USEG_HAVE_CUDA || USEG_CUDACPU
