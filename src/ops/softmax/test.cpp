// softmax_channels vs the double reference on every activation shape, in place, and with
// logits far beyond float's exp range.
//
// Tolerance: probabilities are in [0, 1] and computed in float from exp(x - max) and one
// division, a few ulps: abs 1e-6 + rel 1e-5.
#include <cmath>

#include "unit/op_test_util.h"

namespace useg::test {
namespace {

constexpr Tolerance kTol{1e-6, 1e-5};

class SoftmaxTest : public OpParamTest<Shape> {};

TEST_P(SoftmaxTest, MatchesReference) {
  const Shape s = GetParam();
  Tensor x = random_tensor(s, 1, -3.f, 3.f), y = dev_empty(s);
  be().softmax_channels(dev(x), y);
  EXPECT_ALLCLOSE(host(y), ref::to_tensor(ref::softmax_channels(ref::to_vec(x), s), s), kTol);
}

// exp(300) overflows a float: the max-shifted softmax must still match (the double reference
// does not overflow below exp(709)).
TEST_P(SoftmaxTest, LargeLogitsAreStable) {
  const Shape s = GetParam();
  Tensor x = random_tensor(s, 2, -300.f, 300.f), y = dev_empty(s);
  be().softmax_channels(dev(x), y);
  EXPECT_ALLCLOSE(host(y), ref::to_tensor(ref::softmax_channels(ref::to_vec(x), s), s), kTol);
}

TEST_P(SoftmaxTest, InPlaceMatchesOutOfPlace) {
  const Shape s = GetParam();
  Tensor x = random_tensor(s, 3, -3.f, 3.f), y = dev_empty(s);
  be().softmax_channels(dev(x), y);
  Tensor inplace = dev(x.clone());
  be().softmax_channels(inplace, inplace);
  EXPECT_ALLCLOSE(host(inplace), host(y), Tolerance{0, 0});
}

INSTANTIATE_TEST_SUITE_P(Shapes, SoftmaxTest, ::testing::ValuesIn(activation_shapes()),
                         shape_param_name);

class SoftmaxEdgeTest : public OpTest {};

TEST_F(SoftmaxEdgeTest, ShapeMismatchNamesBothShapes) {
  Tensor x = dev_zeros(Shape{1, 3, 1, 7, 5}), y = dev_zeros(Shape{1, 2, 1, 7, 5});
  expect_error([&] { be().softmax_channels(x, y); },
               "softmax_channels: y [1, 2, 1, 7, 5] does not match x [1, 3, 1, 7, 5]");
}

}  // namespace
}  // namespace useg::test
