// Patch sampling and augmentation: exact permutations, the geometry of the interpolating path,
// intensity transforms that leave labels alone, and batches that do not depend on num_workers.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <set>
#include <thread>

#include "train/augment.h"
#include "train/loader.h"
#include "useg/error.h"

namespace useg::training {
namespace {

// A case whose image is f(z, y, x) (channel c adds 1000 c) and whose label is given.
TrainingCase make_case(int64_t d, int64_t h, int64_t w, int channels = 1) {
  TrainingCase c;
  c.name = "case";
  c.size = {d, h, w};
  c.image = Tensor::empty(Shape{1, channels, d, h, w});
  for (int ch = 0; ch < channels; ++ch)
    for (int64_t z = 0; z < d; ++z)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x)
          c.image.at(0, ch, z, y, x) = float(1000 * ch + 100 * z + 10 * y + x) * 0.01f;
  c.label.assign(static_cast<size_t>(d * h * w), 0);
  c.class_voxels.assign(3, {});
  return c;
}

void set_label(TrainingCase& c, int64_t z, int64_t y, int64_t x, uint8_t k) {
  int64_t i = (z * c.size[1] + y) * c.size[2] + x;
  c.label[static_cast<size_t>(i)] = k;
  c.class_voxels[k].push_back(i);
}

Tensor iota(const Shape& s) {
  Tensor t = Tensor::empty(s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = float(i);
  return t;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.bytes()) == 0;
}

TEST(TrainAugment, FlipsAreExactPermutations) {
  Tensor t = iota(Shape{1, 2, 3, 4, 5});
  for (int axis = 0; axis < 3; ++axis) {
    Tensor f = t.clone();
    flip_axis(f, axis);
    for (int64_t c = 0; c < 2; ++c)
      for (int64_t z = 0; z < 3; ++z)
        for (int64_t y = 0; y < 4; ++y)
          for (int64_t x = 0; x < 5; ++x) {
            int64_t sz = axis == 0 ? 2 - z : z, sy = axis == 1 ? 3 - y : y, sx = axis == 2 ? 4 - x : x;
            ASSERT_EQ(f.at(0, c, z, y, x), t.at(0, c, sz, sy, sx)) << "axis " << axis;
          }
    flip_axis(f, axis);
    EXPECT_TRUE(same_bits(f, t)) << "flipping twice along axis " << axis;
  }
}

TEST(TrainAugment, Rotate90FollowsNumpyRot90) {
  // numpy.rot90([[0, 1, 2], [3, 4, 5], [6, 7, 8]]) == [[2, 5, 8], [1, 4, 7], [0, 3, 6]]
  Tensor t = iota(Shape{1, 1, 1, 3, 3});
  Tensor r = t.clone();
  rotate90_hw(r, 1);
  EXPECT_EQ(r.to_vector(), (std::vector<float>{2, 5, 8, 1, 4, 7, 0, 3, 6}));
  rotate90_hw(r, 1);
  EXPECT_EQ(r.to_vector(), (std::vector<float>{8, 7, 6, 5, 4, 3, 2, 1, 0}));
  rotate90_hw(r, 2);
  EXPECT_TRUE(same_bits(r, t)) << "four quarter turns";
  Tensor q = t.clone();
  rotate90_hw(q, 3);
  EXPECT_EQ(q.to_vector(), (std::vector<float>{6, 3, 0, 7, 4, 1, 8, 5, 2}));
  Tensor wide = iota(Shape{1, 1, 1, 2, 3});
  rotate90_hw(wide, 2);  // a half turn is fine on any plane
  EXPECT_EQ(wide.to_vector(), (std::vector<float>{5, 4, 3, 2, 1, 0}));
  EXPECT_THROW(rotate90_hw(wide, 1), Error);
}

TEST(TrainAugment, IdentityTransformCopiesExactlyWithZeroPadding) {
  TrainingCase c = make_case(1, 6, 7, 2);
  set_label(c, 0, 2, 3, 2);
  Tensor img = Tensor::empty(Shape{1, 2, 1, 8, 8}), lab = Tensor::empty(Shape{1, 1, 1, 8, 8});
  extract_patch(c, {0, -1, 0}, rotation_zoom({0, 0, 0}, 1.0), img, lab);
  for (int64_t ch = 0; ch < 2; ++ch)
    for (int64_t y = 0; y < 8; ++y)
      for (int64_t x = 0; x < 8; ++x) {
        int64_t sy = y - 1;
        bool in = sy >= 0 && sy < 6 && x < 7;
        ASSERT_EQ(img.at(0, ch, 0, y, x), in ? c.image.at(0, ch, 0, sy, x) : 0.f);
      }
  EXPECT_EQ(lab.at(0, 0, 0, 3, 3), 2.f);
  float sum = 0;
  for (float v : lab.to_vector()) sum += v;
  EXPECT_EQ(sum, 2.f);
}

TEST(TrainAugment, InterpolatingPathMatchesExactTransforms) {
  // A full turn takes the interpolating path (sin(2 pi) is not 0) and must give the identity;
  // a quarter turn must give rot90 (k = 3: the angle rotates the sampling grid).
  TrainingCase c = make_case(1, 9, 9);
  set_label(c, 0, 1, 6, 1);
  set_label(c, 0, 7, 2, 2);
  Tensor ref = Tensor::empty(Shape{1, 1, 1, 9, 9}), ref_lab = Tensor::empty(Shape{1, 1, 1, 9, 9});
  extract_patch(c, {0, 0, 0}, kIdentity3, ref, ref_lab);
  const double pi = 3.14159265358979323846;
  Tensor img = ref.clone(), lab = ref_lab.clone();
  Mat3 full = rotation_zoom({2 * pi, 0, 0}, 1.0);
  ASSERT_NE(full, kIdentity3);
  extract_patch(c, {0, 0, 0}, full, img, lab);
  for (int64_t i = 0; i < img.numel(); ++i) ASSERT_NEAR(img.data()[i], ref.data()[i], 1e-4);
  EXPECT_TRUE(same_bits(lab, ref_lab));
  extract_patch(c, {0, 0, 0}, rotation_zoom({pi / 2, 0, 0}, 1.0), img, lab);
  rotate90_hw(ref, 3);
  rotate90_hw(ref_lab, 3);
  for (int64_t i = 0; i < img.numel(); ++i) ASSERT_NEAR(img.data()[i], ref.data()[i], 1e-4);
  EXPECT_TRUE(same_bits(lab, ref_lab));
}

TEST(TrainAugment, ZoomSamplesALinearRampExactly) {
  // Image f = 0.1 x (+ 0.01 y ...): trilinear interpolation is exact for linear functions.
  TrainingCase c = make_case(1, 16, 16);
  Tensor img = Tensor::empty(Shape{1, 1, 1, 8, 8}), lab = Tensor::empty(Shape{1, 1, 1, 8, 8});
  extract_patch(c, {0, 4, 4}, rotation_zoom({0, 0, 0}, 2.0), img, lab);  // magnify 2x
  for (int64_t y = 0; y < 8; ++y)
    for (int64_t x = 0; x < 8; ++x) {
      double sy = 4 + 3.5 + (y - 3.5) / 2, sx = 4 + 3.5 + (x - 3.5) / 2;
      ASSERT_NEAR(img.at(0, 0, 0, y, x), 0.1 * sy + 0.01 * sx, 1e-5);
    }
}

TEST(TrainAugment, LabelsStayIntegerClassesUnderRotationAndZoom) {
  TrainingCase c = make_case(12, 12, 12);
  for (int64_t z = 3; z < 9; ++z)
    for (int64_t y = 2; y < 8; ++y)
      for (int64_t x = 4; x < 10; ++x) set_label(c, z, y, x, (x + y) % 2 ? 1 : 2);
  Tensor img = Tensor::empty(Shape{1, 1, 8, 8, 8}), lab = Tensor::empty(Shape{1, 1, 8, 8, 8});
  extract_patch(c, {2, 2, 2}, rotation_zoom({0.3, -0.5, 0.7}, 1.3), img, lab);
  std::set<float> values(lab.data(), lab.data() + lab.numel());
  for (float v : values) EXPECT_TRUE(v == 0.f || v == 1.f || v == 2.f) << v;
  EXPECT_EQ(values.size(), 3u);
}

TEST(TrainAugment, IntensityTransforms) {
  Tensor base = Tensor::empty(Shape{1, 2, 1, 8, 8});
  for (int64_t i = 0; i < base.numel(); ++i) base.data()[i] = float(std::sin(0.3 * double(i)));
  auto mean_std = [](const Tensor& t, int64_t c) {
    double s = 0, s2 = 0;
    int64_t n = t.shape().spatial();
    for (int64_t i = 0; i < n; ++i) {
      double v = t.data()[c * n + i];
      s += v;
      s2 += v * v;
    }
    return std::pair<double, double>{s / n, std::sqrt(s2 / n - (s / n) * (s / n))};
  };
  Tensor b = base.clone();
  scale_brightness(b, 1.25);
  for (int64_t i = 0; i < b.numel(); ++i) ASSERT_EQ(b.data()[i], base.data()[i] * 1.25f);

  Tensor g = base.clone();
  adjust_gamma(g, 1.4);
  for (int64_t c = 0; c < 2; ++c) {
    EXPECT_NEAR(mean_std(g, c).first, mean_std(base, c).first, 1e-5);
    EXPECT_NEAR(mean_std(g, c).second, mean_std(base, c).second, 1e-5);
  }
  EXPECT_FALSE(same_bits(g, base));

  Tensor k = base.clone();
  adjust_contrast(k, 0.5);
  for (int64_t c = 0; c < 2; ++c) EXPECT_NEAR(mean_std(k, c).first, mean_std(base, c).first, 1e-6);
  EXPECT_NEAR(mean_std(k, 0).second, 0.5 * mean_std(base, 0).second, 1e-5);

  Tensor flat = Tensor::full(Shape{1, 1, 4, 6, 6}, 2.5f);
  gaussian_blur(flat, 1.0);  // a constant stays constant (replicated edges)
  for (float v : flat.to_vector()) ASSERT_NEAR(v, 2.5f, 1e-6);
  Tensor spike = Tensor::zeros(Shape{1, 1, 1, 15, 15});
  spike.at(0, 0, 0, 7, 7) = 1.f;
  gaussian_blur(spike, 1.0);  // in-plane only (D = 1); mass is kept away from the edges
  double sum = 0;
  for (float v : spike.to_vector()) sum += v;
  EXPECT_NEAR(sum, 1.0, 1e-5);
  EXPECT_NEAR(spike.at(0, 0, 0, 7, 8) / spike.at(0, 0, 0, 7, 7), std::exp(-0.5), 1e-4);

  Tensor n = base.clone();
  Rng rng(1);
  add_gaussian_noise(n, 0.1, rng);
  double diff2 = 0;
  for (int64_t i = 0; i < n.numel(); ++i) diff2 += std::pow(n.data()[i] - base.data()[i], 2);
  EXPECT_NEAR(std::sqrt(diff2 / double(n.numel())), 0.1, 0.03);
}

TEST(TrainAugment, IntensityAugmentationLeavesTheLabelAlone) {
  std::vector<TrainingCase> cases{make_case(1, 20, 20)};
  for (int64_t y = 5; y < 12; ++y) set_label(cases[0], 0, y, 8, 1);
  TrainConfig t;
  t.patch_size = {16, 16};
  t.batch_size = 1;
  t.oversample_foreground = 1;
  AugmentConfig none;
  none.flip = none.rotate90 = none.rotate = none.scale = 0;
  none.noise = none.blur = none.brightness = none.contrast = none.gamma = 0;
  AugmentConfig intensity = none;
  intensity.noise = intensity.blur = intensity.brightness = intensity.contrast = intensity.gamma = 1;
  Tensor img0 = Tensor::empty(Shape{1, 1, 1, 16, 16}), lab0 = img0.clone();
  Tensor img1 = img0.clone(), lab1 = img0.clone();
  t.augment = none;
  Rng r0(5);
  make_sample(cases, t, 2, 0, r0, img0, lab0);
  t.augment = intensity;
  Rng r1(5);
  make_sample(cases, t, 2, 0, r1, img1, lab1);
  EXPECT_TRUE(same_bits(lab0, lab1));
  EXPECT_FALSE(same_bits(img0, img1));
  float fg = 0;
  for (float v : lab0.to_vector()) fg += v;
  EXPECT_GT(fg, 0) << "a forced-foreground patch holds foreground";
}

TEST(TrainAugment, ForegroundOversamplingFollowsNnUNet) {
  // round(batch * (1 - p)) leading samples are random, the rest forced.
  EXPECT_FALSE(forced_foreground(0, 2, 0.33));
  EXPECT_TRUE(forced_foreground(1, 2, 0.33));
  EXPECT_FALSE(forced_foreground(2, 4, 0.33));
  EXPECT_TRUE(forced_foreground(3, 4, 0.33));
  EXPECT_FALSE(forced_foreground(0, 1, 0.33));
  EXPECT_TRUE(forced_foreground(0, 1, 1.0));
  EXPECT_FALSE(forced_foreground(3, 4, 0.0));

  std::vector<TrainingCase> cases{make_case(1, 64, 64)};
  set_label(cases[0], 0, 50, 10, 2);
  for (uint64_t s = 0; s < 50; ++s) {
    Rng rng(s);
    PatchSource p = choose_patch(cases, {1, 16, 16}, true, rng);
    EXPECT_EQ(p.start[1], 50 - 8);
    EXPECT_EQ(p.start[2], 10 - 8);
    Rng rng2(s);
    PatchSource q = choose_patch(cases, {1, 16, 16}, false, rng2);
    EXPECT_GE(q.start[1], 0);
    EXPECT_LE(q.start[1], 48);
  }
  // A volume smaller than the patch is placed inside it (padding on both sides).
  std::vector<TrainingCase> small{make_case(1, 10, 40)};
  for (uint64_t s = 0; s < 50; ++s) {
    Rng rng(s);
    PatchSource p = choose_patch(small, {1, 16, 16}, false, rng);
    EXPECT_GE(p.start[1], -3);
    EXPECT_LE(p.start[1], -3);  // need 6: lb = -3, ub = 10 + 3 - 16 = -3
    EXPECT_GE(p.start[2], 0);
    EXPECT_LE(p.start[2], 24);
  }
}

TEST(TrainAugment, BatchesDoNotDependOnTheNumberOfWorkers) {
  std::vector<TrainingCase> cases{make_case(12, 20, 20), make_case(12, 24, 18)};
  for (int64_t y = 5; y < 12; ++y) set_label(cases[1], 6, y, 8, 1);
  TrainConfig t;
  t.patch_size = {8, 16, 16};
  t.batch_size = 3;
  t.seed = 11;
  t.augment.rotate = t.augment.scale = t.augment.noise = t.augment.blur = 0.5;
  const int64_t iters = 4, steps = 9;
  auto make = [&](int64_t s) { return make_batch(cases, t, 3, 1, s / iters, s % iters); };
  std::vector<Batch> ref;
  {
    BatchLoader l(make, 0, 0, steps);
    for (int64_t s = 0; s < steps; ++s) ref.push_back(l.next());
  }
  for (int workers : {1, 2, 3}) {
    BatchLoader l(make, workers, 0, steps);
    for (int64_t s = 0; s < steps; ++s) {
      Batch b = l.next();
      EXPECT_TRUE(same_bits(b.image, ref[s].image)) << workers << " workers, step " << s;
      EXPECT_TRUE(same_bits(b.label, ref[s].label)) << workers << " workers, step " << s;
    }
  }
  // Starting in the middle (a resumed run) gives the same batches.
  BatchLoader mid(make, 2, 5, steps);
  for (int64_t s = 5; s < steps; ++s) EXPECT_TRUE(same_bits(mid.next().image, ref[s].image));
  // Different steps differ.
  EXPECT_FALSE(same_bits(ref[0].image, ref[1].image));
}

// Data-parallel training: rank r of N makes the samples r, r + N, ... of the global batch, so the
// ranks' shares, interleaved back, are the 1-process batch bit for bit (uneven splits too).
TEST(TrainAugment, RankSharesAreTheOneProcessBatch) {
  std::vector<TrainingCase> cases{make_case(12, 20, 20), make_case(12, 24, 18)};
  for (int64_t y = 5; y < 12; ++y) set_label(cases[1], 6, y, 8, 1);
  TrainConfig t;
  t.patch_size = {8, 16, 16};
  t.batch_size = 5;
  t.seed = 7;
  t.oversample_foreground = 0.4;  // the last 2 samples of the batch are forced foreground
  t.augment.rotate = t.augment.scale = t.augment.noise = 0.5;
  const Batch whole = make_batch(cases, t, 3, 1, 2, 3);
  const int64_t per_sample = whole.image.numel() / t.batch_size;
  const int64_t label_per_sample = whole.label.numel() / t.batch_size;
  for (int ranks : {1, 2, 3, 5}) {
    int total = 0;
    for (int r = 0; r < ranks; ++r) {
      const Batch b = make_batch(cases, t, 3, 1, 2, 3, r, ranks);
      ASSERT_EQ(b.image.shape().n(), batch_share(t.batch_size, r, ranks));
      total += int(b.image.shape().n());
      for (int64_t i = 0; i < b.image.shape().n(); ++i) {
        const int64_t n = r + i * ranks;
        EXPECT_TRUE(std::equal(b.image.data() + i * per_sample, b.image.data() + (i + 1) * per_sample,
                               whole.image.data() + n * per_sample))
            << "rank " << r << " of " << ranks << ", sample " << n;
        EXPECT_TRUE(std::equal(b.label.data() + i * label_per_sample,
                               b.label.data() + (i + 1) * label_per_sample,
                               whole.label.data() + n * label_per_sample));
      }
    }
    EXPECT_EQ(total, t.batch_size) << ranks << " ranks";
  }
  EXPECT_EQ(batch_share(4, 0, 3), 2);
  EXPECT_EQ(batch_share(4, 2, 3), 1);
  EXPECT_EQ(batch_share(2, 2, 3), 0);
  EXPECT_THROW(make_batch(cases, t, 3, 1, 0, 0, 5, 6), Error);  // a rank without a sample
}

// The loader times the making of each batch it hands out (for the trainer's "making a batch"
// figure): one entry per batch taken, in step order, at least the time the maker took, on a
// worker or on the calling thread.
TEST(TrainAugment, LoaderTimesTheMakingOfEachBatch) {
  for (int workers : {0, 2}) {
    BatchLoader l([](int64_t s) -> Batch {
      std::this_thread::sleep_for(std::chrono::milliseconds(s % 2 ? 30 : 5));
      return Batch{Tensor::zeros(Shape{1}), Tensor::zeros(Shape{1})};
    }, workers, 0, 4);
    for (int i = 0; i < 3; ++i) l.next();
    const std::vector<double> t = l.make_seconds();
    ASSERT_EQ(t.size(), 3u) << workers << " workers";
    for (size_t i = 0; i < t.size(); ++i)
      EXPECT_GE(t[i], i % 2 ? 0.030 : 0.005) << workers << " workers, step " << i;
  }
}

TEST(TrainAugment, LoaderReportsAFailingBatch) {
  BatchLoader l([](int64_t s) -> Batch {
    if (s == 1) throw Error("cannot make batch 1");
    return Batch{Tensor::zeros(Shape{1}), Tensor::zeros(Shape{1})};
  }, 2, 0, 3);
  l.next();
  EXPECT_THROW(l.next(), Error);
}

}  // namespace
}  // namespace useg::training

namespace useg::training {
namespace {

// Elastic deformation on a known image: a vertical line (image 1 and label 1 at x = 24, a block
// of label 2). Labels are sampled by nearest neighbour, so the deformed label map holds exactly
// the values it had; the line is bent (not at its old column in many rows) yet still crosses
// almost every row, and where the label says "line" the image does too. alpha 0 is the identity.
TEST(TrainAugment, ElasticDeformationMovesALineAndKeepsLabelValues) {
  TrainingCase c = make_case(1, 48, 48);
  for (int64_t i = 0; i < c.image.numel(); ++i) c.image.data()[i] = 0.f;
  for (int64_t y = 0; y < 48; ++y) {
    c.image.at(0, 0, 0, y, 24) = 1.f;
    set_label(c, 0, y, 24, 1);
  }
  for (int64_t y = 30; y < 40; ++y)
    for (int64_t x = 10; x < 20; ++x) set_label(c, 0, y, x, 2);
  const std::array<int64_t, 3> patch{1, 32, 32};
  Tensor img = Tensor::empty(Shape{1, 1, 1, 32, 32}), lab = Tensor::empty(Shape{1, 1, 1, 32, 32});
  Rng rng(5);
  Tensor field = elastic_displacement(patch, 2, 450, 10, rng);
  float dmax = 0;
  for (int64_t i = 0; i < 32 * 32; ++i) {
    EXPECT_EQ(field.data()[i], 0.f) << "no D displacement for a 2D patch";
    dmax = std::max({dmax, std::fabs(field.data()[1024 + i]), std::fabs(field.data()[2048 + i])});
  }
  EXPECT_GT(dmax, 1.5f);
  EXPECT_LT(dmax, 20.f);
  extract_patch(c, {0, 8, 8}, kIdentity3, img, lab, &field);
  std::set<float> values(lab.data(), lab.data() + lab.numel());
  EXPECT_EQ(values, (std::set<float>{0.f, 1.f, 2.f}));
  int rows_with_line = 0, rows_moved = 0;
  for (int64_t y = 0; y < 32; ++y) {
    bool any = false, at_old_column = false;
    for (int64_t x = 0; x < 32; ++x)
      if (lab.at(0, 0, 0, y, x) == 1.f) {
        any = true;
        at_old_column = at_old_column || x == 16;
        EXPECT_GE(img.at(0, 0, 0, y, x), 0.5f) << y << " " << x;
      }
    rows_with_line += any;
    rows_moved += any && !at_old_column;
  }
  EXPECT_GE(rows_with_line, 29);
  EXPECT_GE(rows_moved, 8) << "the line was not moved";
  // alpha 0: the field is zero and the patch is the identity copy.
  Rng rng0(5);
  Tensor zero = elastic_displacement(patch, 2, 0, 10, rng0);
  Tensor ref_img = img.clone(), ref_lab = lab.clone();
  extract_patch(c, {0, 8, 8}, kIdentity3, ref_img, ref_lab);
  extract_patch(c, {0, 8, 8}, kIdentity3, img, lab, &zero);
  EXPECT_TRUE(same_bits(img, ref_img));
  EXPECT_TRUE(same_bits(lab, ref_lab));
}

double high_frequency_energy(const Tensor& t, int64_t ch) {
  double e = 0;
  const Shape& s = t.shape();
  for (int64_t y = 0; y < s.h(); ++y)
    for (int64_t x = 0; x < s.w(); ++x) {
      float v = t.at(0, ch, 0, y, x);
      if (x + 1 < s.w()) e += std::pow(t.at(0, ch, 0, y, x + 1) - v, 2);
      if (y + 1 < s.h()) e += std::pow(t.at(0, ch, 0, y + 1, x) - v, 2);
    }
  return e;
}

double channel_mean(const Tensor& t, int64_t ch) {
  const int64_t n = t.shape().d() * t.shape().h() * t.shape().w();
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m += t.data()[ch * n + i];
  return m / double(n);
}

// Low resolution on a checkerboard of 2x2 squares: the high-frequency energy (squared
// neighbour differences) drops, the mean stays, the other channel is untouched; zoom 1 is the
// identity.
TEST(TrainAugment, LowResolutionBlursACheckerboardAndKeepsItsMean) {
  Tensor t = Tensor::empty(Shape{1, 2, 1, 32, 32});
  for (int64_t ch = 0; ch < 2; ++ch)
    for (int64_t y = 0; y < 32; ++y)
      for (int64_t x = 0; x < 32; ++x) t.at(0, ch, 0, y, x) = float((y / 2 + x / 2) % 2);
  Tensor before = t.clone();
  simulate_low_resolution(t, 0, {1.0, 1.0, 1.0});
  EXPECT_TRUE(same_bits(t, before));
  // (The mean is kept up to the aliasing of order-0 downsampling: at zoom 0.75 this
  // checkerboard's coarse samples happen to favour 0 and the mean is 0.451.)
  for (double zoom : {0.5, 0.6, 0.8}) {
    Tensor u = before.clone();
    simulate_low_resolution(u, 0, {1.0, zoom, zoom});
    EXPECT_LT(high_frequency_energy(u, 0), 0.4 * high_frequency_energy(before, 0)) << zoom;
    EXPECT_NEAR(channel_mean(u, 0), 0.5, 0.01) << zoom;
    for (int64_t i = 32 * 32; i < 2 * 32 * 32; ++i) ASSERT_EQ(u.data()[i], before.data()[i]);
    for (int64_t i = 0; i < 32 * 32; ++i) {
      ASSERT_GE(u.data()[i], 0.f);  // linear upsampling stays within the values' range
      ASSERT_LE(u.data()[i], 1.f);
    }
  }
  // A smooth ramp along x survives nearly unchanged (low frequencies are kept).
  Tensor ramp = Tensor::empty(Shape{1, 1, 1, 8, 32});
  for (int64_t y = 0; y < 8; ++y)
    for (int64_t x = 0; x < 32; ++x) ramp.at(0, 0, 0, y, x) = float(x);
  simulate_low_resolution(ramp, 0, {1.0, 1.0, 0.5});
  for (int64_t x = 2; x < 30; ++x) EXPECT_NEAR(ramp.at(0, 0, 0, 3, x), float(x), 0.51) << x;
}

// Through the sample recipe with both transforms always on: labels keep their class values.
TEST(TrainAugment, SampleWithElasticAndLowResolution) {
  TrainingCase c = make_case(12, 20, 20);
  for (int64_t z = 2; z < 10; ++z)
    for (int64_t y = 4; y < 16; ++y)
      for (int64_t x = 4; x < 16; ++x) set_label(c, z, y, x, (x + y) % 3 == 0 ? 2 : 1);
  TrainConfig t;
  t.augment.elastic = 1;
  t.augment.low_res = 1;
  t.augment.low_res_per_channel = 1;
  Tensor img = Tensor::empty(Shape{1, 1, 8, 16, 16}), lab = Tensor::empty(Shape{1, 1, 8, 16, 16});
  Rng rng(9);
  augment_sample(c, {2, 2, 2}, t, 3, rng, img, lab);
  std::set<float> values(lab.data(), lab.data() + lab.numel());
  for (float v : values) EXPECT_TRUE(v == 0.f || v == 1.f || v == 2.f) << v;
  for (int64_t i = 0; i < img.numel(); ++i) ASSERT_TRUE(std::isfinite(img.data()[i]));
}

}  // namespace
}  // namespace useg::training
