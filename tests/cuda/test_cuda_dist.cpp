// Data-parallel training's device side (src/train/gradient_bucket.h, src/dist/communicator.h,
// cuda/nccl/): the gradient bucket packed and unpacked with backend ops, on the CPU and on a CUDA
// device (cudacpu in CI), the host-staged all-reduce of a device tensor, and NCCL: its loading
// (no device needed) and a one-rank all-reduce on a real GPU. The N-rank training itself is
// tests/shell/test_mpi_train.sh.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/devices.h"
#include "dist/communicator.h"
#include "train/gradient_bucket.h"
#include "useg/backend.h"
#include "useg/error.h"

namespace useg::test {
namespace {

// `ranks` ranks holding the same values: every sum is ranks x the value. Counts its calls.
class EqualRanks final : public dist::Communicator {
 public:
  explicit EqualRanks(int ranks) : m_ranks(ranks) {}
  int rank() const override { return 0; }
  int size() const override { return m_ranks; }
  void allreduce_sum(float* data, size_t count) override {
    ++calls;
    for (size_t i = 0; i < count; ++i) data[i] *= float(m_ranks);
  }
  void allreduce_sum(double* data, size_t count) override {
    ++calls;
    for (size_t i = 0; i < count; ++i) data[i] *= m_ranks;
  }
  void broadcast(void*, size_t, int) override {}
  void barrier() override {}
  [[noreturn]] void abort(const std::string& message) override { throw Error(message); }
  std::string description() const override { return "equal ranks"; }
  int calls = 0;

 private:
  int m_ranks;
};

Tensor values(const Shape& s, float first, float step, Device device) {
  Tensor t = Tensor::empty(s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = first + step * float(i);
  return t.to(device);
}

// A conv weight with a gradient, a bias without one, a BatchNorm buffer.
struct Model {
  Parameter weight, bias, running_mean;
  explicit Model(Device d) {
    weight = {"w", values(Shape{2, 3, 1, 1, 1}, 1.f, 0.5f, d), values(Shape{2, 3, 1, 1, 1}, -2.f, 1.f, d), {}};
    bias = {"b", values(Shape{2}, 7.f, 1.f, d), Tensor(), {}};
    running_mean = {"m", values(Shape{3}, 0.25f, 0.25f, d), Tensor(), {}};
  }
  std::vector<Parameter*> params() { return {&weight, &bias}; }
  std::vector<Parameter*> buffers() { return {&running_mean}; }
};

// What one rank of `ranks` equal ones ends with after pack (weight w = 1/ranks), the sum and
// unpack: its own gradients and buffers back, and its loss.
void check_round_trip(Backend& be) {
  const Device d = be.device();
  Model m(d);
  const std::vector<float> grad0 = m.weight.grad.to_vector(), buf0 = m.running_mean.value.to_vector();
  training::GradientBucket bucket;
  bucket.pack(be, m.params(), m.buffers(), 0.25f, 0.25f, 0.75f, false);
  ASSERT_EQ(bucket.numel(), 6 + 2 + 3 + 1);
  EXPECT_EQ(bucket.tensor().device(), d);
  const std::vector<float> packed = bucket.tensor().to_vector();
  const std::vector<float> expected = {-0.5f, -0.25f, 0.f, 0.25f, 0.5f, 0.75f,  // 0.25 x grad
                                       0.f, 0.f,                               // no bias grad
                                       0.0625f, 0.125f, 0.1875f,               // 0.25 x buffer
                                       0.75f};                                 // the loss
  EXPECT_EQ(packed, expected);

  EqualRanks four(4);
  four.allreduce_tensor(bucket.tensor());
  EXPECT_EQ(four.calls, 1);
  EXPECT_FLOAT_EQ(bucket.loss(), 3.f);
  bucket.unpack(be, m.params(), m.buffers());
  EXPECT_EQ(m.weight.grad.to_vector(), grad0);  // x0.25 x4 is exact
  EXPECT_EQ(m.running_mean.value.to_vector(), buf0);
  EXPECT_FALSE(m.bias.grad.defined());

  // A rank whose loss was not finite sends zeros and NaN: every rank then skips the step.
  bucket.pack(be, m.params(), m.buffers(), 0.25f, 0.25f, std::nanf(""), true);
  const std::vector<float> zeroed = bucket.tensor().to_vector();
  for (int i = 0; i < 8; ++i) EXPECT_EQ(zeroed[size_t(i)], 0.f) << i;
  EXPECT_TRUE(std::isnan(bucket.loss()));

  // The bucket is not the model's: unpacking into another model is refused.
  Model other(d);
  std::vector<Parameter*> fewer = {&other.weight};
  EXPECT_THROW(bucket.unpack(be, fewer, other.buffers()), Error);
}

TEST(DataParallelBucket, PacksSumsAndUnpacksOnTheCpu) {
  auto be = make_backend(Device::CPU);
  check_round_trip(*be);
}

TEST(DataParallelBucket, OneProcessAllReduceIsTheIdentity) {
  dist::SingleProcess one;
  Tensor t = values(Shape{5, 1, 1, 1, 1}, 1.f, 1.f, Device::CPU);
  one.allreduce_tensor(t);
  EXPECT_EQ(t.to_vector(), (std::vector<float>{1, 2, 3, 4, 5}));
}

TEST(DataParallelBucket, NcclWithoutCudaIsAClearError) {
  auto be = make_backend(Device::CPU);
  dist::SingleProcess one;
  try {
    dist::make_nccl_communicator(one, *be);
    ADD_FAILURE() << "an NCCL communicator on a CPU backend";
  } catch (const Error& e) {
    const std::string m = e.what();
#if defined(USEG_HAVE_NCCL)
    // The library may or may not load here; either way the CPU backend is refused, or the
    // library's absence is named.
    EXPECT_TRUE(m.find("needs a CUDA backend") != std::string::npos ||
                m.find("cannot load NCCL") != std::string::npos)
        << m;
#else
    EXPECT_NE(m.find("built without NCCL"), std::string::npos) << m;
    EXPECT_NE(m.find("--dist-backend mpi"), std::string::npos) << m;
#endif
  }
}

// The tests' shared CUDA backend (common/devices.h), made once: skipped with the reason without one.
class CudaDataParallel : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    m_backend = test_backend(Device::CUDA, &why);
    if (!m_backend) GTEST_SKIP() << "CUDA unavailable: " << why;
  }
  Backend* m_backend = nullptr;
};

// The same bucket with CUDA tensors; the sum goes through host memory (the MPI path).
TEST_F(CudaDataParallel, BucketOnTheDeviceMatchesTheCpu) { check_round_trip(*m_backend); }

#if defined(USEG_HAVE_NCCL)
// Loading needs no GPU: a missing library is named with the ways to get one.
TEST(CudaNccl, AMissingLibraryIsNamedWithTheFix) {
  try {
    dist::nccl_library("/nonexistent/libnccl.so.2");
    ADD_FAILURE() << "a missing NCCL library loaded";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("cannot load NCCL (/nonexistent/libnccl.so.2): "), std::string::npos) << m;
    EXPECT_NE(m.find("nvidia-nccl-cu13"), std::string::npos) << m;
    EXPECT_NE(m.find("USEG_NCCL_LIBRARY"), std::string::npos) << m;
    EXPECT_NE(m.find("--dist-backend mpi"), std::string::npos) << m;
  }
  // A library that is not NCCL is refused by name.
  try {
    dist::nccl_library("libm.so.6");
    ADD_FAILURE() << "libm accepted as NCCL";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has no ncclGetVersion: it is not NCCL 2"),
              std::string::npos) << e.what();
  }
  // Where the library is installed (the CUDA toolkit's here), it loads and says its version.
  try {
    const std::string d = dist::nccl_library();
    EXPECT_EQ(d.rfind("NCCL 2.", 0), 0u) << d;
    std::printf("      %s\n", d.c_str());
  } catch (const Error& e) {
    std::printf("      NCCL not installed here: %s\n", e.what());
  }
}

// One rank on a real GPU: ncclCommInitRank of 1, the all-reduce in place, the bucket through it.
TEST_F(CudaDataParallel, NcclOneRankSumsInPlace) {
  std::string loaded;
  try {
    loaded = dist::nccl_library();
  } catch (const Error& e) {
    GTEST_SKIP() << e.what();
  }
  dist::SingleProcess one;
  auto nccl = dist::make_nccl_communicator(one, *m_backend);
  EXPECT_EQ(nccl->size(), 1);
  EXPECT_NE(nccl->description().find(loaded + " over single process"), std::string::npos)
      << nccl->description();
  Tensor t = values(Shape{1000, 1, 1, 1, 1}, -3.f, 0.125f, Device::CUDA);
  const std::vector<float> before = t.to_vector();
  const float* where = t.data();
  nccl->allreduce_tensor(t);
  EXPECT_EQ(t.data(), where);  // in place
  EXPECT_EQ(t.to_vector(), before);
  Model m(Device::CUDA);
  training::GradientBucket bucket;
  bucket.pack(*m_backend, m.params(), m.buffers(), 1.f, 1.f, 2.5f, false);
  nccl->allreduce_tensor(bucket.tensor());
  EXPECT_EQ(bucket.loss(), 2.5f);
}
#endif

}  // namespace
}  // namespace useg::test
