// The Backend front (src/core/backend.cpp): arguments are checked before any device code runs,
// the optional training fast paths fall back to the plain ops, a missing op is a clear error,
// and an installed OpTimer sees every op (and nothing once removed).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/expect_error.h"
#include "core/backend_impl.h"

namespace useg {
namespace {

// A device whose ops only count their calls (and fill outputs so results are defined).
class CountingImpl final : public BackendImpl {
 public:
  CountingImpl() {
    ops.fill = [](BackendImpl& b, Tensor& t, float v) {
      static_cast<CountingImpl&>(b).calls.push_back("fill");
      for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = v;
    };
    ops.conv_forward = [](BackendImpl& b, const Tensor&, const Tensor&, const Tensor*, Tensor&,
                          const ConvGeom&) {
      static_cast<CountingImpl&>(b).calls.push_back("conv_forward");
    };
    ops.conv_backward_data = [](BackendImpl& b, const Tensor&, const Tensor&, Tensor&,
                                const ConvGeom&) {
      static_cast<CountingImpl&>(b).calls.push_back("conv_backward_data");
    };
    ops.conv_backward_weights = [](BackendImpl& b, const Tensor&, const Tensor&, Tensor&, Tensor*,
                                   const ConvGeom&) {
      static_cast<CountingImpl&>(b).calls.push_back("conv_backward_weights");
    };
  }
  Device device() const override { return Device::CPU; }
  std::string name() const override { return "counting"; }
  void synchronize() override { calls.push_back("synchronize"); }
  std::vector<std::string> calls;
};

struct Recorded {
  std::string key;
  double gflop;
};
class RecordingTimer final : public OpTimer {
 public:
  void record(const std::string& key, double gflop, double ms) override {
    EXPECT_GE(ms, 0.0);
    seen.push_back({key, gflop});
  }
  std::vector<Recorded> seen;
};

struct Front {
  Front() {
    auto impl = std::make_unique<CountingImpl>();
    counting = impl.get();
    backend = std::make_unique<Backend>(std::move(impl));
  }
  CountingImpl* counting;
  std::unique_ptr<Backend> backend;
};

ConvGeom same3x3() {
  ConvGeom g;
  g.kernel = {1, 3, 3};
  g.pad = {0, 1, 1};
  return g;
}

TEST(BackendFront, ArgumentsAreCheckedBeforeTheDeviceRuns) {
  Front f;
  Tensor x = Tensor::zeros(Shape{1, 3, 1, 7, 5});
  Tensor w = Tensor::zeros(Shape{4, 2, 1, 3, 3});  // 2 input channels, x has 3
  Tensor y = Tensor::zeros(Shape{1, 4, 1, 7, 5});
  test::expect_error([&] { f.backend->conv_forward(x, w, nullptr, y, same3x3()); },
                     "conv_forward: weight [4, 2, 1, 3, 3] expects 2 input channels, input is "
                     "[1, 3, 1, 7, 5]");
  EXPECT_TRUE(f.counting->calls.empty());
  Tensor w3 = Tensor::zeros(Shape{4, 3, 1, 3, 3});
  f.backend->conv_forward(x, w3, nullptr, y, same3x3());
  EXPECT_EQ(f.counting->calls, std::vector<std::string>{"conv_forward"});
}

TEST(BackendFront, TrainingFastPathsFallBackToThePlainOps) {
  Front f;
  Tensor x = Tensor::zeros(Shape{1, 3, 1, 7, 5}), w = Tensor::zeros(Shape{4, 3, 1, 3, 3});
  Tensor y = Tensor::zeros(Shape{1, 4, 1, 7, 5}), dw = Tensor::zeros(w.shape());
  Tensor dx = Tensor::zeros(x.shape());
  Backend::ConvSaved saved = f.backend->conv_forward_training(x, w, nullptr, y, same3x3());
  EXPECT_FALSE(saved.holds_input());
  EXPECT_EQ(saved.x_shape, x.shape());
  f.backend->conv_backward(x, y, w, &dx, dw, nullptr, same3x3(), saved);
  f.backend->conv_backward(x, y, w, nullptr, dw, nullptr, same3x3(), saved);
  EXPECT_EQ(f.counting->calls,
            (std::vector<std::string>{"conv_forward", "conv_backward_weights",
                                      "conv_backward_data", "conv_backward_weights"}));
  // Without a kept copy, the input cannot be released.
  const std::string e =
      test::error_of([&] { f.backend->conv_backward(Tensor(), y, w, &dx, dw, nullptr, same3x3(), saved); });
  EXPECT_HAS(e, "conv_backward: the input is an undefined tensor and the saved handle does not hold it");
}

TEST(BackendFront, AReleasedConvInputMustMatchTheHandle) {
  auto be = make_backend(Device::CPU);
  Tensor x = Tensor::zeros(Shape{1, 16, 1, 12, 10}), w = Tensor::zeros(Shape{16, 16, 1, 3, 3});
  Tensor y = Tensor::zeros(Shape{1, 16, 1, 12, 10}), dw = Tensor::zeros(w.shape());
  Backend::ConvSaved saved = be->conv_forward_training(x, w, nullptr, y, same3x3());
  ASSERT_TRUE(saved.holds_input()) << "the CPU keeps a blocked copy of a 16-channel input";
  be->conv_backward(Tensor(), y, w, nullptr, dw, nullptr, same3x3(), saved);  // fine
  Tensor other = Tensor::zeros(Shape{1, 16, 1, 12, 9});
  const std::string e =
      test::error_of([&] { be->conv_backward(other, y, w, nullptr, dw, nullptr, same3x3(), saved); });
  EXPECT_HAS(e, "conv_backward: input [1, 16, 1, 12, 9] is not the forward's input [1, 16, 1, 12, 10]");
}

TEST(BackendFront, AnOpTheDeviceLacksIsAClearError) {
  Front f;
  Tensor a = Tensor::zeros(Shape{1, 2, 1, 3, 3}), y = Tensor::zeros(a.shape());
  test::expect_error([&] { f.backend->add(a, a, y); },
                     "add is not implemented on the counting backend");
}

TEST(BackendFront, AnInstalledTimerSeesEveryOpAndSynchronizesAfterIt) {
  Front f;
  RecordingTimer timer;
  Tensor x = Tensor::zeros(Shape{2, 3, 1, 7, 5}), w = Tensor::zeros(Shape{4, 3, 1, 3, 3});
  Tensor y = Tensor::zeros(Shape{2, 4, 1, 7, 5});
  f.backend->conv_forward(x, w, nullptr, y, same3x3());  // before: not timed
  f.backend->set_op_timer(&timer);
  f.backend->conv_forward(x, w, nullptr, y, same3x3());
  f.backend->fill(y, 1.f);
  f.backend->set_op_timer(nullptr);
  f.backend->fill(y, 2.f);  // after: not timed
  ASSERT_EQ(timer.seen.size(), 2u);
  EXPECT_EQ(timer.seen[0].key, "conv_forward [2, 4, 1, 7, 5] k1x3x3");
  // 2 FLOPs per multiply-add: N * D*H*W * Co * Ci * k
  EXPECT_DOUBLE_EQ(timer.seen[0].gflop, 2.0 * 2 * 35 * 4 * 3 * 9 * 1e-9);
  EXPECT_EQ(timer.seen[1].key, "fill");
  EXPECT_EQ(timer.seen[1].gflop, 0.0);
  EXPECT_EQ(f.counting->calls,
            (std::vector<std::string>{"conv_forward", "conv_forward", "synchronize", "fill",
                                      "synchronize", "fill"}));
  EXPECT_EQ(y.data()[0], 2.f);
}

TEST(BackendFront, AFailingOpIsNotRecorded) {
  Front f;
  RecordingTimer timer;
  f.backend->set_op_timer(&timer);
  Tensor a = Tensor::zeros(Shape{1, 2, 1, 3, 3}), y = Tensor::zeros(a.shape());
  test::expect_error([&] { f.backend->add(a, a, y); }, "is not implemented");
  EXPECT_TRUE(timer.seen.empty());
}

}  // namespace
}  // namespace useg
