// The CUDA backend through the public API. Without a device (or in a build without CUDA) the
// backend is refused with a clear reason, never a crash; with one, tensors move to and from the
// device through the staging path in any size.
#include <gtest/gtest.h>

#include <string>

#include "common/compare.h"
#include "common/shapes.h"
#include "useg/backend.h"
#include "useg/error.h"

namespace useg::test {
namespace {

TEST(CudaBackendAvailability, RefusalNamesTheReason) {
  std::string why;
  if (device_available(Device::CUDA, &why)) {
    auto be = make_backend(Device::CUDA);
    EXPECT_EQ(be->name(), "cuda");
    EXPECT_EQ(be->device(), Device::CUDA);
    BackendOptions bad;
    bad.cuda_device = 4096;
    try {
      make_backend(Device::CUDA, bad);
      ADD_FAILURE() << "device 4096 accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("CUDA device 4096 not found: this machine has"),
                std::string::npos)
          << e.what();
    }
    for (const char* p : {"fp32", "tf32", "fp16", "bf16"}) {
      BackendOptions o;
      o.precision = p;
      EXPECT_EQ(make_backend(Device::CUDA, o)->name(), "cuda") << p;
    }
    return;
  }
#if defined(USEG_HAVE_CUDA)
  const std::string expected = "no CUDA device found (";  // a CUDA build on a machine without GPU
#else
  const std::string expected = "useg was built without CUDA support";
#endif
  EXPECT_EQ(why.find(expected), 0u) << why;
  try {
    make_backend(Device::CUDA);
    ADD_FAILURE() << "make_backend(Device::CUDA) succeeded although device_available said no";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), why);
  }
  try {
    Tensor::empty(Shape{1, 1, 1, 1, 4}, Device::CUDA);
    ADD_FAILURE() << "a CUDA tensor without a CUDA backend";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no CUDA device support in this process"),
              std::string::npos)
        << e.what();
  }
}

class CudaTensorTransfer : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!device_available(Device::CUDA, &why)) GTEST_SKIP() << "CUDA unavailable: " << why;
    m_backend = make_backend(Device::CUDA);  // keeps the device context alive
  }
  std::unique_ptr<Backend> m_backend;
};

// Sizes below, at and above one 8 MiB staging buffer (uploads and downloads are chunked).
TEST_F(CudaTensorTransfer, RoundTripsOfEverySize) {
  for (int64_t w : {int64_t(1), int64_t(1000), int64_t(2097152), int64_t(2097153),
                    int64_t(5000001)}) {
    SCOPED_TRACE(w);
    const Tensor h = random_tensor(Shape{1, 1, 1, 1, w}, uint32_t(w));
    const Tensor d = h.to(Device::CUDA);
    EXPECT_EQ(d.device(), Device::CUDA);
    const Tensor c = d.clone();  // device -> device
    EXPECT_ALLCLOSE(c.to(Device::CPU), h, Tolerance{0, 0});
    EXPECT_ALLCLOSE(d.to(Device::CPU), h, Tolerance{0, 0});
  }
  const Tensor z = Tensor::zeros(Shape{2, 3, 1, 5, 7}, Device::CUDA);
  EXPECT_ALLCLOSE(z.to(Device::CPU), Tensor::zeros(Shape{2, 3, 1, 5, 7}), Tolerance{0, 0});
  // A view of a device tensor copies just its rows.
  const Tensor h = random_tensor(Shape{3, 2, 1, 4, 4}, 7);
  const Tensor row = h.to(Device::CUDA).batch_slice(1, 1).to(Device::CPU);
  EXPECT_ALLCLOSE(row, h.batch_slice(1, 1).clone(), Tolerance{0, 0});
}

// Uploads return before the copy ends; work queued afterwards must still see the data, and a
// host buffer reused right after the call must not leak into the device copy.
TEST_F(CudaTensorTransfer, UploadsAreOrderedBeforeLaterOps) {
  Tensor h = random_tensor(Shape{1, 4, 8, 64, 64}, 3);
  const Tensor expected = h.clone();
  Tensor d = h.to(Device::CUDA);
  h.data()[0] = 1e30f;  // the caller may reuse its memory at once
  Tensor y = Tensor::empty(h.shape(), Device::CUDA);
  m_backend->scale(d, 2.f);
  m_backend->copy(d, y);
  Tensor twice = expected.clone();
  for (int64_t i = 0; i < twice.numel(); ++i) twice.data()[i] *= 2.f;
  EXPECT_ALLCLOSE(y.to(Device::CPU), twice, Tolerance{0, 0});
}

}  // namespace
}  // namespace useg::test
