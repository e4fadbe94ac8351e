// What a graph node keeps from a training forward for its backward (src/nn/node_ops.h): the
// memory of a training step is mostly these saved tensors, so each test pins one of the
// choices that keep it small, and checks that the backward from the smaller thing is the same.
//  - ReLU / LeakyReLU keep their output's signs as bits, not the output; sigmoid / tanh keep y.
//  - A convolution whose backend holds its own copy of the input does not keep the input too.
//  - Max pooling keeps where each window's maximum is (1 byte an output), not its input.
#include <gtest/gtest.h>

#include "common/compare.h"
#include "common/shapes.h"
#include "nn/node_ops.h"
#include "useg/backend.h"

namespace useg {
namespace {

using test::allclose;
using test::random_tensor;

constexpr test::Tolerance kExact{0, 0};

nn::Node act_node(Activation a, float slope) {
  nn::Node n;
  n.kind = nn::OpKind::Act;
  n.name = "act";
  n.inputs = {0};
  n.act = a;
  n.slope = slope;
  return n;
}

TEST(NodeOps, ReluAndLeakyReluKeepSignBitsNotTheirOutput) {
  auto be = make_backend(Device::CPU);
  const Shape s{2, 3, 4, 5, 7};  // 840 elements: 27 words, the last one partial
  for (auto [a, slope] : {std::pair{Activation::ReLU, 0.f}, {Activation::LeakyReLU, 0.01f}}) {
    SCOPED_TRACE(activation_name(a));
    const nn::Node n = act_node(a, slope);
    const Tensor x = random_tensor(s, 1), dy = random_tensor(s, 2);
    nn::Saved saved;
    Tensor y = nn::node_forward(*be, n, {}, {x.clone()}, true, false, 0, saved);
    EXPECT_FALSE(saved.y.defined()) << "the float output is not kept";
    ASSERT_TRUE(saved.sign_bits.defined());
    EXPECT_EQ(saved.sign_bits.shape(), (Shape{27, 1, 1, 1, 1}));
    const std::vector<Tensor> dx = nn::node_backward(*be, n, {}, dy, {true}, saved);
    Tensor want = Tensor::empty(s);
    be->activation_backward(a, slope, x, Tensor(), dy, want);
    EXPECT_TRUE(allclose(dx[0], want, kExact));
  }
}

TEST(NodeOps, SigmoidKeepsItsOutputAndANegativeSlopeKeepsY) {
  auto be = make_backend(Device::CPU);
  const Shape s{1, 2, 1, 3, 5};
  // Sigmoid differentiates at y; a LeakyReLU with a negative slope has y > 0 where x < 0, so
  // the sign of y is not the sign of x there: both keep y.
  for (auto [a, slope] : {std::pair{Activation::Sigmoid, 0.f}, {Activation::LeakyReLU, -0.5f}}) {
    SCOPED_TRACE(activation_name(a));
    nn::Saved saved;
    Tensor y = nn::node_forward(*be, act_node(a, slope), {}, {random_tensor(s, 3)}, true, false,
                                0, saved);
    EXPECT_TRUE(saved.y.defined());
    EXPECT_FALSE(saved.sign_bits.defined());
  }
  nn::Saved inference;
  nn::node_forward(*be, act_node(Activation::ReLU, 0.f), {}, {random_tensor(s, 4)}, false, false,
                   0, inference);
  EXPECT_FALSE(inference.y.defined() || inference.sign_bits.defined()) << "nothing in inference";
}

TEST(NodeOps, MaxPoolKeepsItsMaximaOffsetsNotItsInput) {
  auto be = make_backend(Device::CPU);
  nn::Node n;
  n.kind = nn::OpKind::MaxPool;
  n.name = "pool";
  n.inputs = {0};
  n.pool.kernel = n.pool.stride = {2, 2, 2};
  const Shape s{2, 3, 4, 6, 10};  // outputs [2, 3, 2, 3, 5]: 180 bytes = 45 floats
  const Tensor x = random_tensor(s, 9), dy = random_tensor(Shape{2, 3, 2, 3, 5}, 10);
  nn::Saved saved;
  nn::node_forward(*be, n, {}, {x.clone()}, true, false, 0, saved);
  EXPECT_FALSE(saved.x.defined()) << "the input is not kept";
  ASSERT_TRUE(saved.pool_offsets.defined());
  EXPECT_EQ(saved.pool_offsets.shape(), (Shape{45, 1, 1, 1, 1}));
  const std::vector<Tensor> dx = nn::node_backward(*be, n, {}, dy, {true}, saved);
  Tensor want = Tensor::empty(s);
  be->maxpool_backward(x, dy, want, n.pool);
  EXPECT_TRUE(allclose(dx[0], want, kExact));
  // A window too large for a byte offset keeps the input as before.
  n.pool.kernel = n.pool.stride = {1, 1, 300};
  nn::Saved wide;
  nn::node_forward(*be, n, {}, {random_tensor(Shape{1, 1, 1, 1, 300}, 11)}, true, false, 0, wide);
  EXPECT_TRUE(wide.x.defined());
  EXPECT_FALSE(wide.pool_offsets.defined());
}

TEST(NodeOps, AConvWhoseBackendHoldsTheInputDoesNotKeepItToo) {
  auto be = make_backend(Device::CPU);
  nn::Node n;
  n.kind = nn::OpKind::Conv;
  n.name = "conv";
  n.inputs = {0};
  n.channels = 16;
  n.conv.kernel = {1, 3, 3};
  n.conv.pad = {0, 1, 1};
  const Shape s{1, 16, 1, 12, 10};
  Parameter w, b;
  w.value = random_tensor(Shape{16, 16, 1, 3, 3}, 5, -0.1f, 0.1f);
  b.value = random_tensor(Shape{16}, 6);
  w.grad = Tensor::zeros(w.value.shape());
  b.grad = Tensor::zeros(b.value.shape());
  const Tensor x = random_tensor(s, 7), dy = random_tensor(s, 8);
  nn::Saved saved;
  nn::node_forward(*be, n, {&w, &b}, {x.clone()}, true, false, 0, saved);
  ASSERT_TRUE(saved.conv.holds_input()) << "the CPU keeps a blocked copy of a 16-channel input";
  EXPECT_FALSE(saved.x.defined()) << "the plain input is not kept beside it";
  const std::vector<Tensor> dx = nn::node_backward(*be, n, {&w, &b}, dy, {true}, saved);
  // Against the plain ops from the plain input.
  Tensor want_dx = Tensor::empty(s), want_dw = Tensor::empty(w.value.shape());
  be->conv_backward_data(dy, w.value, want_dx, n.conv);
  be->conv_backward_weights(x, dy, want_dw, nullptr, n.conv);
  EXPECT_TRUE(allclose(dx[0], want_dx, {1e-5, 1e-4}));
  EXPECT_TRUE(allclose(w.grad, want_dw, {1e-4, 1e-4}));
}

}  // namespace
}  // namespace useg
