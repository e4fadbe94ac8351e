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

// `ranks` ranks holding the same values: every sum is ranks x the value. Records what each sum
// received. Started sums (allreduce_start, where `in_place`) are applied in wait_all(), and a
// started range written to before then is a failure: the bucket must not touch it.
class EqualRanks final : public dist::Communicator {
 public:
  explicit EqualRanks(int ranks, bool in_place = true) : m_ranks(ranks), m_in_place(in_place) {}
  int rank() const override { return 0; }
  int size() const override { return m_ranks; }
  void allreduce_sum(float* data, size_t count) override {
    ++calls;
    sent.emplace_back(data, data + count);
    for (size_t i = 0; i < count; ++i) data[i] *= float(m_ranks);
  }
  void allreduce_sum(double* data, size_t count) override {
    ++calls;
    for (size_t i = 0; i < count; ++i) data[i] *= m_ranks;
  }
  bool sums_in_place(Device d) const override { return m_in_place && d == Device::CPU; }
  void allreduce_start(float* data, size_t count, Device d) override {
    EXPECT_TRUE(sums_in_place(d));
    ++starts;
    sent.emplace_back(data, data + count);
    m_pending.push_back({data, count});
  }
  void progress() override { ++progress_calls; }
  void wait_all() override {
    ++waits;
    for (size_t k = 0; k < m_pending.size(); ++k) {
      const std::vector<float>& at_start = sent[sent.size() - m_pending.size() + k];
      float* data = m_pending[k].first;
      EXPECT_EQ(std::vector<float>(data, data + m_pending[k].second), at_start)
          << "a started sum's range was written before wait_all";
      for (size_t i = 0; i < m_pending[k].second; ++i) data[i] *= float(m_ranks);
    }
    m_pending.clear();
  }
  void broadcast(void*, size_t, int) override {}
  void barrier() override {}
  [[noreturn]] void abort(const std::string& message) override { throw Error(message); }
  std::string description() const override { return "equal ranks"; }
  int calls = 0, starts = 0, waits = 0, progress_calls = 0;
  std::vector<std::vector<float>> sent;  // each sum's input, in order

 private:
  int m_ranks;
  bool m_in_place;
  std::vector<std::pair<float*, size_t>> m_pending;
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

// What one rank of `ranks` equal ones ends with after the bucket (weight w = 1/ranks), the sum
// and unpack: its own gradients and buffers back, and its loss. One segment (segment size 0), or
// the communicator cannot sum the device's memory in place: one host-staged sum in finish().
void check_round_trip(Backend& be, int64_t segment_bytes) {
  const Device d = be.device();
  Model m(d);
  const std::vector<float> grad0 = m.weight.grad.to_vector(), buf0 = m.running_mean.value.to_vector();
  training::GradientBucket bucket;
  EqualRanks four(4);
  bucket.begin(be, four, m.params(), m.buffers(), 0.25f, false, segment_bytes);
  bucket.finish(0.25f, 0.75f);
  ASSERT_EQ(bucket.numel(), 2 + 6 + 3 + 1);
  ASSERT_EQ(four.calls, 1);
  EXPECT_EQ(four.starts, 0);
  EXPECT_EQ(bucket.segments(), 1);
  // The parameters in reverse order (the backward finishes the last ones first).
  const std::vector<float> expected = {0.f, 0.f,                               // no bias grad
                                       -0.5f, -0.25f, 0.f, 0.25f, 0.5f, 0.75f,  // 0.25 x grad
                                       0.0625f, 0.125f, 0.1875f,               // 0.25 x buffer
                                       0.75f};                                 // the loss
  EXPECT_EQ(four.sent[0], expected);
  EXPECT_FLOAT_EQ(bucket.loss(), 3.f);
  bucket.unpack(be, m.params(), m.buffers());
  EXPECT_EQ(m.weight.grad.to_vector(), grad0);  // x0.25 x4 is exact
  EXPECT_EQ(m.running_mean.value.to_vector(), buf0);
  EXPECT_FALSE(m.bias.grad.defined());

  // A rank whose loss was not finite sends zeros and NaN: every rank then skips the step.
  bucket.begin(be, four, m.params(), m.buffers(), 0.25f, true, segment_bytes);
  bucket.finish(0.25f, std::nanf(""));
  ASSERT_EQ(four.sent.size(), 2u);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(four.sent[1][size_t(i)], 0.f) << i;
  EXPECT_TRUE(std::isnan(bucket.loss()));

  // The bucket is not the model's: unpacking into another model is refused.
  Model other(d);
  std::vector<Parameter*> fewer = {&other.weight};
  EXPECT_THROW(bucket.unpack(be, fewer, other.buffers()), Error);
}

TEST(DataParallelBucket, PacksSumsAndUnpacksOnTheCpu) {
  auto be = make_backend(Device::CPU);
  check_round_trip(*be, 0);
}

// Four parameters of 4, 4, 8 and 2 floats in segments of 16 bytes: laid out in reverse
// (p3 p2 | p1 | p0 | buffer, loss), each segment started as soon as its gradients are in and
// every segment before it has started, the last one in finish(). The sums are those of one
// segment, bit for bit.
TEST(DataParallelBucket, SegmentsStartInOrderAsTheirGradientsAreReady) {
  auto be = make_backend(Device::CPU);
  const Device d = Device::CPU;
  std::vector<Parameter> p(4);
  const int64_t sizes[4] = {4, 4, 8, 2};
  for (int k = 0; k < 4; ++k) {
    Shape s{sizes[k], 1, 1, 1, 1};
    p[size_t(k)] = {"p" + std::to_string(k), values(s, 0.f, 1.f, d),
                    values(s, float(k) * 10.f + 0.1f, 0.37f, d), {}};
  }
  Parameter buf{"running_var", values(Shape{3}, 1.f, 1.f, d), Tensor(), {}};
  std::vector<Parameter*> params = {&p[0], &p[1], &p[2], &p[3]}, bufs = {&buf};

  training::GradientBucket bucket;
  EqualRanks three(3);
  bucket.begin(*be, three, params, bufs, 1.f / 3.f, false, 16);
  EXPECT_EQ(bucket.segments(), 4);
  bucket.ready(p[3]);
  EXPECT_EQ(three.starts, 0);  // p2 shares p3's segment
  bucket.ready(p[2]);
  EXPECT_EQ(three.starts, 1);
  EXPECT_EQ(three.sent[0].size(), 10u);
  bucket.ready(p[0]);
  EXPECT_EQ(three.starts, 1);  // p0's segment is complete, p1's before it is not
  EXPECT_THROW(bucket.ready(p[0]), Error);  // twice in a step
  Parameter stranger{"stranger", values(Shape{1}, 0.f, 0.f, d), Tensor(), {}};
  EXPECT_THROW(bucket.ready(stranger), Error);
  bucket.ready(p[1]);
  EXPECT_EQ(three.starts, 3);
  EXPECT_EQ(three.waits, 0);
  EXPECT_GE(three.progress_calls, 3);
  bucket.finish(1.f / 3.f, 0.5f);
  EXPECT_EQ(three.starts, 4);
  EXPECT_EQ(three.waits, 1);
  EXPECT_EQ(three.calls, 0);
  EXPECT_EQ(bucket.started_early(), 3);
  EXPECT_EQ(three.sent[1].size(), 4u);
  EXPECT_EQ(three.sent[2].size(), 4u);
  EXPECT_EQ(three.sent[3].size(), 4u);  // the buffer and the loss
  bucket.unpack(*be, params, bufs);
  std::vector<std::vector<float>> segmented;
  for (Parameter* q : params) segmented.push_back(q->grad.to_vector());
  const float segmented_loss = bucket.loss();

  // The same step as one sum after the backward.
  for (int k = 0; k < 4; ++k)
    p[size_t(k)].grad = values(Shape{sizes[k], 1, 1, 1, 1}, float(k) * 10.f + 0.1f, 0.37f, d);
  buf.value = values(Shape{3}, 1.f, 1.f, d);
  EqualRanks whole(3);
  bucket.begin(*be, whole, params, bufs, 1.f / 3.f, false, 0);
  bucket.finish(1.f / 3.f, 0.5f);
  EXPECT_EQ(whole.calls, 1);
  EXPECT_EQ(bucket.segments(), 1);
  EXPECT_EQ(bucket.started_early(), 0);
  bucket.unpack(*be, params, bufs);
  for (size_t k = 0; k < 4; ++k) EXPECT_EQ(params[k]->grad.to_vector(), segmented[k]) << k;
  EXPECT_EQ(bucket.loss(), segmented_loss);
  EXPECT_FLOAT_EQ(bucket.loss(), 1.5f);

  // Gradients never reported (a parameter without one, or a backward without the hook) are
  // packed by finish(); a communicator that cannot sum in place gets one host-staged sum.
  EqualRanks staged(2, false);
  p[1].grad = Tensor();
  bucket.begin(*be, staged, params, bufs, 0.5f, false, 16);
  bucket.ready(p[3]);
  bucket.finish(0.5f, 1.f);
  EXPECT_EQ(staged.starts, 0);
  EXPECT_EQ(staged.calls, 1);
  EXPECT_EQ(bucket.segments(), 1);
  EXPECT_EQ(staged.sent[0].size(), size_t(4 + 4 + 8 + 2 + 3 + 1));
  for (size_t i = 10; i < 14; ++i) EXPECT_EQ(staged.sent[0][i], 0.f) << "p1 has no gradient";
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
TEST_F(CudaDataParallel, BucketOnTheDeviceMatchesTheCpu) {
  check_round_trip(*m_backend, 0);
  check_round_trip(*m_backend, 16);  // segments, but EqualRanks sums no device memory in place
}

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
  // The bucket in segments: started on NCCL's own stream as the gradients come in, waited for
  // on the compute stream.
  Model m(Device::CUDA);
  training::GradientBucket bucket;
  bucket.begin(*m_backend, *nccl, m.params(), m.buffers(), 1.f, false, 8);
  bucket.ready(m.bias);  // the last parameter's segment is the first
  EXPECT_EQ(bucket.started_early(), 1);
  bucket.ready(m.weight);
  EXPECT_EQ(bucket.started_early(), 2);
  bucket.finish(1.f, 2.5f);
  EXPECT_EQ(bucket.segments(), 3);
  EXPECT_EQ(bucket.loss(), 2.5f);
  const std::vector<float> grad0 = m.weight.grad.to_vector();
  bucket.unpack(*m_backend, m.params(), m.buffers());
  EXPECT_EQ(m.weight.grad.to_vector(), grad0);
}
#endif

}  // namespace
}  // namespace useg::test
