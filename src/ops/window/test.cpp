// Sliding-window accumulation (windows inside, at negative offsets, overhanging the far edges,
// entirely outside, larger than the volume) and argmax over channels (first max on ties), vs the
// double reference on every activation shape.
//
// Tolerance: each voxel receives a few float multiply-adds (one or two roundings each, ~1e-7
// relative) on values <= ~3: abs 1e-6 + rel 1e-6. argmax is exact.
#include <array>

#include "unit/op_test_util.h"

namespace useg::test {
namespace {

constexpr Tolerance kTol{1e-6, 1e-6};

class WindowTest : public OpParamTest<Shape> {};

// Windows of probs [Nw, C, pd, ph, pw] placed at several offsets over a volume a little larger
// than one window, added on top of non-zero accumulators.
TEST_P(WindowTest, AccumulateMatchesReference) {
  const Shape ps = GetParam();
  const int64_t D = ps.d() + 2, H = ps.h() + 3, W = ps.w() + 1;
  const Shape as{1, ps.c(), D, H, W}, ss{1, 1, D, H, W};
  Tensor probs = random_tensor(ps, 1, 0.f, 1.f);
  Tensor weight = random_tensor(Shape{1, 1, ps.d(), ps.h(), ps.w()}, 2, 0.1f, 1.f);
  Tensor accum0 = random_tensor(as, 3, 0.f, 1.f), wsum0 = random_tensor(ss, 4, 0.f, 1.f);
  const std::vector<std::array<int64_t, 3>> offsets = {
      {0, 0, 0},                                         // inside
      {-1, -2, -3},                                      // negative: clipped at 0
      {D - ps.d() + 1, H - ps.h() + 2, W - ps.w() + 1},  // overhangs the far edges
      {1, -1, W - 1},                                    // mixed, one column inside
      {D + 5, 0, 0},                                     // entirely outside
  };
  Tensor probs_d = dev(probs), weight_d = dev(weight);
  Tensor accum = dev(accum0.clone()), wsum = dev(wsum0.clone());
  ref::Vec ra = ref::to_vec(accum0), rs = ref::to_vec(wsum0);
  const ref::Vec pv = ref::to_vec(probs), wv = ref::to_vec(weight);
  for (size_t k = 0; k < offsets.size(); ++k) {
    const int64_t n = static_cast<int64_t>(k) % ps.n();
    be().window_accumulate(probs_d, n, weight_d, offsets[k], accum, wsum);
    ref::window_accumulate(pv, ps, n, wv, offsets[k], ra, as, rs);
  }
  EXPECT_ALLCLOSE(host(accum), ref::to_tensor(ra, as), kTol);
  EXPECT_ALLCLOSE(host(wsum), ref::to_tensor(rs, ss), kTol);
}

TEST_P(WindowTest, ArgmaxMatchesReference) {
  const Shape s = GetParam();
  Tensor x = random_tensor(s, 5);
  const Shape ls{s.n(), 1, s.d(), s.h(), s.w()};
  Tensor labels = dev_empty(ls);
  be().argmax_channels(dev(x), labels);
  EXPECT_ALLCLOSE(host(labels), ref::to_tensor(ref::argmax_channels(ref::to_vec(x), s), ls),
                  Tolerance{0, 0});
}

INSTANTIATE_TEST_SUITE_P(Shapes, WindowTest, ::testing::ValuesIn(activation_shapes()),
                         shape_param_name);

class WindowEdgeTest : public OpTest {};

// A 4x4x4 window over a 2x3x2 volume at offset (-1, 0, -2): only the overlap is added.
TEST_F(WindowEdgeTest, WindowLargerThanVolume) {
  const Shape ps{1, 2, 4, 4, 4}, as{1, 2, 2, 3, 2}, ss{1, 1, 2, 3, 2};
  Tensor probs = random_tensor(ps, 6, 0.f, 1.f);
  Tensor weight = random_tensor(Shape{1, 1, 4, 4, 4}, 7, 0.1f, 1.f);
  Tensor accum = dev_zeros(as), wsum = dev_zeros(ss);
  be().window_accumulate(dev(probs), 0, dev(weight), {-1, 0, -2}, accum, wsum);
  ref::Vec ra(as.numel(), 0.0), rs(ss.numel(), 0.0);
  ref::window_accumulate(ref::to_vec(probs), ps, 0, ref::to_vec(weight), {-1, 0, -2}, ra, as, rs);
  EXPECT_ALLCLOSE(host(accum), ref::to_tensor(ra, as), kTol);
  EXPECT_ALLCLOSE(host(wsum), ref::to_tensor(rs, ss), kTol);
  // Spot check: volume voxel (0, 0, 0) is window voxel (1, 0, 2).
  EXPECT_FLOAT_EQ(host(wsum).at(0, 0, 0, 0, 0), weight.at(0, 0, 1, 0, 2));
}

TEST_F(WindowEdgeTest, ArgmaxTiesPickTheFirstChannel) {
  // Three voxels: all channels equal -> 0; channels 1 and 2 tie for the max -> 1; a unique
  // max in the last channel -> 2.
  const Shape s{1, 3, 1, 1, 3};
  std::vector<float> v = {
      0.5f, 0.2f, 0.1f,  // channel 0
      0.5f, 0.9f, 0.1f,  // channel 1
      0.5f, 0.9f, 0.7f,  // channel 2
  };
  Tensor x = Tensor::wrap(v.data(), s).clone(), labels = dev_empty(Shape{1, 1, 1, 1, 3});
  be().argmax_channels(dev(x), labels);
  EXPECT_EQ(host(labels).to_vector(), (std::vector<float>{0.f, 1.f, 2.f}));
}

TEST_F(WindowEdgeTest, BadShapesAreNamed) {
  Tensor probs = dev_zeros(Shape{2, 3, 4, 5, 6}), accum = dev_zeros(Shape{1, 3, 8, 8, 8});
  Tensor wsum = dev_zeros(Shape{1, 1, 8, 8, 8}), weight = dev_zeros(Shape{1, 1, 4, 5, 6});
  Tensor bad_weight = dev_zeros(Shape{1, 1, 4, 5, 5});
  expect_error(
      [&] {
        be().window_accumulate(probs, 0, bad_weight, {0, 0, 0}, accum, wsum);
      },
      "window_accumulate: weight [1, 1, 4, 5, 5] must be [1, 1, 4, 5, 6] (the window of "
      "probs [2, 3, 4, 5, 6])");
  expect_error(
      [&] {
        be().window_accumulate(probs, 2, weight, {0, 0, 0}, accum, wsum);
      },
      "window_accumulate: window 2 is out of range for probs [2, 3, 4, 5, 6]");
  Tensor bad_accum = dev_zeros(Shape{1, 2, 8, 8, 8});
  expect_error(
      [&] {
        be().window_accumulate(probs, 0, weight, {0, 0, 0}, bad_accum, wsum);
      },
      "window_accumulate: accum [1, 2, 8, 8, 8] must be [1, 3, D, H, W]");
  Tensor bad_labels = dev_zeros(Shape{2, 3, 4, 5, 6});
  expect_error([&] { be().argmax_channels(probs, bad_labels); },
               "argmax_channels: labels [2, 3, 4, 5, 6] must be [2, 1, 4, 5, 6] for x "
               "[2, 3, 4, 5, 6]");
}

}  // namespace
}  // namespace useg::test
