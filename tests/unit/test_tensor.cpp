#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>

#include "common/compare.h"
#include "useg/backend.h"
#include "useg/error.h"
#include "useg/tensor.h"

namespace useg {
namespace {

TEST(Shape, NumelAndAccessors) {
  Shape s{2, 3, 4, 5, 6};
  EXPECT_EQ(s.numel(), 720);
  EXPECT_EQ(s.c(), 3);
  EXPECT_EQ(s.spatial(), 120);
  EXPECT_EQ(s.str(), "[2, 3, 4, 5, 6]");
  EXPECT_EQ(Shape{}.numel(), 0);
}

TEST(Shape, RankFiveAccessorOnOtherRankThrows) {
  Shape s{4, 5};
  try {
    (void)s.c();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected an NCDHW (rank-5) shape, got [4, 5]"),
              std::string::npos)
        << e.what();
  }
}

TEST(Tensor, BatchSliceSharesStorage) {
  Tensor t = Tensor::zeros(Shape{3, 2, 1, 2, 2});
  Tensor s = t.batch_slice(1, 1);
  EXPECT_EQ(s.shape(), (Shape{1, 2, 1, 2, 2}));
  s.data()[0] = 5.f;
  EXPECT_EQ(t.at(1, 0, 0, 0, 0), 5.f);
  EXPECT_THROW(t.batch_slice(2, 2), Error);
}

TEST(Tensor, CloneIsDeep) {
  Tensor t = Tensor::full(Shape{1, 1, 1, 1, 3}, 2.f);
  Tensor c = t.clone();
  c.data()[0] = 7.f;
  EXPECT_EQ(t.data()[0], 2.f);
  EXPECT_TRUE(test::allclose(t.to_vector(), std::vector<float>{2.f, 2.f, 2.f}));
}

// Without a CUDA backend in the process, a CUDA tensor is a clear error. The first CUDA backend
// a process makes installs Tensor's device hooks for good (cuda/device_context.cpp), after which
// such an allocation succeeds: in a CUDA build on a GPU, any earlier test of this binary that
// made one would turn this test into a failure. So the check runs in a fresh process: gtest's
// "threadsafe" death-test style re-executes this binary for this test alone, and no test before
// it has run there. The child reports the error's message and exits 0, or exits 1 if none came.
TEST(Tensor, CudaWithoutCudaBackendIsAClearError) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        try {
          Tensor::empty(Shape{1, 1, 1, 1, 1}, Device::CUDA);
          std::fprintf(stderr, "no error: a CUDA tensor was allocated without a CUDA backend\n");
          std::fflush(stderr);
          std::_Exit(1);
        } catch (const Error& e) {
          std::fprintf(stderr, "%s\n", e.what());
          std::fflush(stderr);
          std::_Exit(0);
        }
      },
      ::testing::ExitedWithCode(0),
      "no CUDA device support in this process: useg was built without CUDA, or the CUDA backend "
      "was not created \\(use --device cpu\\)");
}

TEST(Geometry, ConvAndDeconvShapes) {
  ConvGeom g;
  g.kernel = {1, 3, 3};
  g.stride = {1, 2, 2};
  g.pad = {0, 1, 1};
  EXPECT_EQ(conv_output_shape(Shape{1, 2, 1, 9, 10}, 4, g), (Shape{1, 4, 1, 5, 5}));
  ConvGeom u;
  u.kernel = {2, 2, 2};
  u.stride = {2, 2, 2};
  EXPECT_EQ(deconv_output_shape(Shape{1, 8, 3, 4, 5}, 4, u), (Shape{1, 4, 6, 8, 10}));
  PoolGeom p;
  p.kernel = {2, 2, 2};
  p.stride = {2, 2, 2};
  EXPECT_EQ(pool_output_shape(Shape{1, 1, 5, 3, 7}, p), (Shape{1, 1, 2, 1, 3}));
}

TEST(Compare, ReportsFirstMismatch) {
  std::vector<float> a{1.f, 2.f, 3.f}, b{1.f, 2.5f, 3.f};
  auto r = test::allclose(a, b);
  EXPECT_FALSE(r);
  EXPECT_NE(std::string(r.message()).find("at [1]"), std::string::npos) << r.message();
}

}  // namespace
}  // namespace useg
