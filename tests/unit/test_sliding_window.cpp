// Sliding-window inference: window placement, the Gaussian importance map, equivalence with
// direct inference when one window covers the image, invariance to the batch size, mirroring,
// and images smaller than the patch.
#include <gtest/gtest.h>

#include <cmath>

#include "util/stats.h"
#include "common/compare.h"
#include "common/shapes.h"
#include "useg/error.h"
#include "useg/infer.h"

namespace useg {
namespace {

ModelConfig small2d() {
  ModelConfig c;
  c.dims = 2;
  c.in_channels = 1;
  c.num_classes = 3;
  c.base_filters = 4;
  c.depth = 2;
  return c;
}

TEST(WindowStarts, NnunetRule) {
  EXPECT_EQ(window_starts(10, 16, 0.5), (std::vector<int64_t>{0}));
  EXPECT_EQ(window_starts(16, 16, 0.5), (std::vector<int64_t>{0}));
  // (40 - 16) / 8 = 3 -> 4 windows evenly from 0 to 24
  EXPECT_EQ(window_starts(40, 16, 0.5), (std::vector<int64_t>{0, 8, 16, 24}));
  // (41 - 16) / 8 = 3.1 -> 5 windows, step 25 / 4 = 6.25
  EXPECT_EQ(window_starts(41, 16, 0.5), (std::vector<int64_t>{0, 6, 13, 19, 25}));
  EXPECT_EQ(window_starts(40, 16, 0.0), (std::vector<int64_t>{0, 12, 24}));
  // patch 1 (a 2D model on a 3D volume): every slice once
  EXPECT_EQ(window_starts(4, 1, 0.5), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_THROW(window_starts(40, 16, 1.0), Error);
}

TEST(Gaussian, SymmetricPeakOneNoZeros) {
  Tensor g = gaussian_importance({1, 16, 15}, 1.0 / 8);
  float peak = 0, lo = 1;
  for (int64_t y = 0; y < 16; ++y)
    for (int64_t x = 0; x < 15; ++x) {
      float v = g.at(0, 0, 0, y, x);
      peak = std::max(peak, v);
      lo = std::min(lo, v);
      EXPECT_FLOAT_EQ(v, g.at(0, 0, 0, 15 - y, x));
      EXPECT_FLOAT_EQ(v, g.at(0, 0, 0, y, 14 - x));
    }
  EXPECT_FLOAT_EQ(peak, 1.f);
  EXPECT_GT(lo, 0.f);
  EXPECT_FLOAT_EQ(g.at(0, 0, 0, 7, 7), 1.f);  // odd axis: exact centre
}

Tensor direct_probabilities(Network& net, const Tensor& x) {
  Tensor logits = net.forward(x, false)[0];
  Tensor p = Tensor::empty(logits.shape());
  net.backend().softmax_channels(logits, p);
  return p;
}

TEST(SlidingWindow, OneWindowEqualsDirectInference) {
  auto be = make_backend(Device::CPU);
  Network net(small2d(), *be);
  net.init_weights(3);
  Tensor x = test::random_tensor(Shape{1, 1, 1, 16, 20}, 4);
  WindowOptions o;
  o.patch = {1, 16, 20};
  Tensor p = predict_probabilities(net, x, o);
  EXPECT_ALLCLOSE(p, direct_probabilities(net, x), test::Tolerance{1e-6, 1e-5});
}

TEST(SlidingWindow, OverlapResultInvariantToBatchSize) {
  auto be = make_backend(Device::CPU);
  Network net(small2d(), *be);
  net.init_weights(5);
  Tensor x = test::random_tensor(Shape{1, 1, 1, 37, 29}, 6);
  WindowOptions o;
  o.patch = {1, 16, 16};
  o.batch = 1;
  Tensor a = predict_probabilities(net, x, o);
  o.batch = 4;
  Tensor b = predict_probabilities(net, x, o);
  o.batch = 100;
  Tensor c = predict_probabilities(net, x, o);
  EXPECT_ALLCLOSE(b, a, test::Tolerance{1e-6, 1e-5});
  EXPECT_ALLCLOSE(c, a, test::Tolerance{1e-6, 1e-5});
  // Probabilities sum to one at every voxel.
  const int64_t vox = 37 * 29;
  for (int64_t i = 0; i < vox; i += 13) {
    double s = 0;
    for (int k = 0; k < 3; ++k) s += a.data()[k * vox + i];
    EXPECT_NEAR(s, 1.0, 1e-5);
  }
}

TEST(SlidingWindow, ImageSmallerThanPatchIsPaddedAndCropped) {
  auto be = make_backend(Device::CPU);
  Network net(small2d(), *be);
  net.init_weights(8);
  Tensor x = test::random_tensor(Shape{1, 1, 1, 10, 7}, 9);
  WindowOptions o;
  o.patch = {1, 16, 16};
  Tensor p = predict_probabilities(net, x, o);
  EXPECT_EQ(p.shape(), (Shape{1, 3, 1, 10, 7}));
  // Equals direct inference on the zero-padded image (centred: 3 rows before, 4 cols before).
  Tensor padded = Tensor::zeros(Shape{1, 1, 1, 16, 16});
  for (int y = 0; y < 10; ++y)
    for (int xx = 0; xx < 7; ++xx) padded.at(0, 0, 0, y + 3, xx + 4) = x.at(0, 0, 0, y, xx);
  Tensor d = direct_probabilities(net, padded);
  for (int k = 0; k < 3; ++k)
    for (int y = 0; y < 10; ++y)
      for (int xx = 0; xx < 7; ++xx)
        EXPECT_NEAR(p.at(0, k, 0, y, xx), d.at(0, k, 0, y + 3, xx + 4), 1e-5);
}

TEST(SlidingWindow, MirroringAveragesFlippedPredictions) {
  auto be = make_backend(Device::CPU);
  Network net(small2d(), *be);
  net.init_weights(10);
  Tensor x = test::random_tensor(Shape{1, 1, 1, 8, 12}, 11);
  WindowOptions o;
  o.patch = {1, 8, 12};
  o.mirror = true;
  Tensor p = predict_probabilities(net, x, o);
  // Reference: average of the four flips computed by hand on the host.
  Tensor ref = Tensor::zeros(p.shape());
  for (int m = 0; m < 4; ++m) {
    Tensor xf = x.clone();
    for (int y = 0; y < 8; ++y)
      for (int xx = 0; xx < 12; ++xx)
        xf.at(0, 0, 0, y, xx) = x.at(0, 0, 0, (m & 2) ? 7 - y : y, (m & 1) ? 11 - xx : xx);
    Tensor d = direct_probabilities(net, xf);
    for (int k = 0; k < 3; ++k)
      for (int y = 0; y < 8; ++y)
        for (int xx = 0; xx < 12; ++xx)
          ref.at(0, k, 0, y, xx) += 0.25f * d.at(0, k, 0, (m & 2) ? 7 - y : y, (m & 1) ? 11 - xx : xx);
  }
  EXPECT_ALLCLOSE(p, ref, test::Tolerance{1e-5, 1e-4});
}

TEST(Preprocess, ZScoreAndCtAndPercentile) {
  Tensor v = Tensor::empty(Shape{1, 3, 1, 1, 5});
  float vals[3][5] = {{1, 2, 3, 4, 5}, {-2000, -500, 0, 500, 3000}, {0, 1, 2, 3, 100}};
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 5; ++i) v.at(0, c, 0, 0, i) = vals[c][i];
  PreprocessConfig pp;
  pp.channels.resize(3);
  pp.channels[0].scheme = IntensityScheme::ZScore;
  pp.channels[1].scheme = IntensityScheme::CT;
  pp.channels[1].clip_low = -1000;
  pp.channels[1].clip_high = 1000;
  pp.channels[1].mean = 100;
  pp.channels[1].std = 200;
  pp.channels[2].scheme = IntensityScheme::Percentile;
  pp.channels[2].percentile_low = 0;
  pp.channels[2].percentile_high = 75;  // clips 100 to 3
  normalize_intensities(v, pp);
  double sd = std::sqrt(2.0);
  EXPECT_NEAR(v.at(0, 0, 0, 0, 0), (1 - 3) / sd, 1e-6);
  EXPECT_NEAR(v.at(0, 1, 0, 0, 0), (-1000 - 100) / 200.0, 1e-6);
  EXPECT_NEAR(v.at(0, 1, 0, 0, 4), (1000 - 100) / 200.0, 1e-6);
  // channel 2 after clipping: {0,1,2,3,3}: mean 1.8, std sqrt(1.36)
  EXPECT_NEAR(v.at(0, 2, 0, 0, 4), (3 - 1.8) / std::sqrt(1.36), 1e-5);
  PreprocessConfig wrong;
  wrong.channels.resize(2);
  EXPECT_THROW(normalize_intensities(v, wrong), Error);
}

TEST(Preprocess, PercentileInterpolatesLikeNumpy) {
  using F = std::vector<float>;
  EXPECT_DOUBLE_EQ(percentile(F{1, 2, 3, 4}, 50), 2.5);
  EXPECT_DOUBLE_EQ(percentile(F{5, 1, 3}, 0), 1);
  EXPECT_DOUBLE_EQ(percentile(F{5, 1, 3}, 100), 5);
  EXPECT_NEAR(percentile(F{0, 10}, 99.5), 9.95, 1e-12);
  EXPECT_DOUBLE_EQ(percentile(F{5, 1, 3}, 120), 5) << "q is clamped to [0, 100]";
}

}  // namespace
}  // namespace useg
