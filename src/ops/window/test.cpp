// The sliding-window cases of the op harness (tests/harness/op_case.h): window accumulation
// (windows inside, at negative offsets, overhanging the far edges, entirely outside, larger than
// the volume), argmax over channels (first max on ties) and the spatial flip (all 8 axis masks)
// vs the double reference on every activation shape; the shape-error messages.
//
// Tolerance: each voxel receives a few float multiply-adds (one or two roundings each, ~1e-7
// relative) on values <= ~3: abs 1e-6 + rel 1e-6, across devices kUlps. argmax and flip are
// exact.
#include <array>
#include <string>
#include <vector>

#include "common/expect_error.h"
#include "harness/op_case.h"
#include "ops/window/ref.h"

namespace useg::test {
namespace {

constexpr Tolerance kTol{1e-6, 1e-6};

// Windows of probs [Nw, C, pd, ph, pw] placed at several offsets over a volume a little larger
// than one window, added on top of non-zero accumulators.
void accumulate(OpRun& r, const Shape& ps) {
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
  Tensor probs_d = r.dev(probs), weight_d = r.dev(weight);
  Tensor accum = r.dev(accum0), wsum = r.dev(wsum0);
  ref::Vec ra = ref::to_vec(accum0), rs = ref::to_vec(wsum0);
  const ref::Vec pv = ref::to_vec(probs), wv = ref::to_vec(weight);
  for (size_t k = 0; k < offsets.size(); ++k) {
    const int64_t n = static_cast<int64_t>(k) % ps.n();
    r.be().window_accumulate(probs_d, n, weight_d, offsets[k], accum, wsum);
    ref::window_accumulate(pv, ps, n, wv, offsets[k], ra, as, rs);
  }
  r.expect("accum", accum, ref::to_tensor(ra, as), kTol, kUlps);
  r.expect("weight_sum", wsum, ref::to_tensor(rs, ss), kTol, kUlps);
}

void argmax(OpRun& r, const Shape& s) {
  Tensor x = random_tensor(s, 5);
  if (s.c() > 1) x.data()[s.spatial()] = x.data()[0];  // a tie: channel 0 wins
  const Shape ls{s.n(), 1, s.d(), s.h(), s.w()};
  Tensor labels = r.garbage(ls);
  r.be().argmax_channels(r.dev(x), labels);
  r.expect("labels", labels, ref::to_tensor(ref::argmax_channels(ref::to_vec(x), s), ls), kExact,
           kExact);
}

void flip(OpRun& r, const Shape& s) {
  const Tensor x = random_tensor(s, 6);
  for (int axes = 0; axes < 8; ++axes) {
    Tensor y = r.garbage(s);
    r.be().flip_spatial(r.dev(x), axes, y);
    r.expect("y axes " + std::to_string(axes), y,
             ref::to_tensor(ref::flip_spatial(ref::to_vec(x), s, axes), s), kExact, kExact);
  }
}

// A 4x4x4 window over a 2x3x2 volume at offset (-1, 0, -2): only the overlap is added.
void window_larger_than_volume(OpRun& r) {
  const Shape ps{1, 2, 4, 4, 4}, as{1, 2, 2, 3, 2}, ss{1, 1, 2, 3, 2};
  Tensor probs = random_tensor(ps, 6, 0.f, 1.f);
  Tensor weight = random_tensor(Shape{1, 1, 4, 4, 4}, 7, 0.1f, 1.f);
  Tensor accum = r.zeros(as), wsum = r.zeros(ss);
  r.be().window_accumulate(r.dev(probs), 0, r.dev(weight), {-1, 0, -2}, accum, wsum);
  ref::Vec ra(as.numel(), 0.0), rs(ss.numel(), 0.0);
  ref::window_accumulate(ref::to_vec(probs), ps, 0, ref::to_vec(weight), {-1, 0, -2}, ra, as, rs);
  EXPECT_ALLCLOSE(r.host(accum), ref::to_tensor(ra, as), kTol);
  EXPECT_ALLCLOSE(r.host(wsum), ref::to_tensor(rs, ss), kTol);
  // Spot check: volume voxel (0, 0, 0) is window voxel (1, 0, 2).
  EXPECT_FLOAT_EQ(r.host(wsum).at(0, 0, 0, 0, 0), weight.at(0, 0, 1, 0, 2));
}

// Argmax ties pick the first channel.
void argmax_ties(OpRun& r) {
  // Three voxels: all channels equal -> 0; channels 1 and 2 tie for the max -> 1; a unique
  // max in the last channel -> 2.
  const Shape s{1, 3, 1, 1, 3};
  std::vector<float> v = {
      0.5f, 0.2f, 0.1f,  // channel 0
      0.5f, 0.9f, 0.1f,  // channel 1
      0.5f, 0.9f, 0.7f,  // channel 2
  };
  Tensor x = Tensor::wrap(v.data(), s).clone(), labels = r.empty(Shape{1, 1, 1, 1, 3});
  r.be().argmax_channels(r.dev(x), labels);
  EXPECT_EQ(r.host(labels).to_vector(), (std::vector<float>{0.f, 1.f, 2.f}));
}

void bad_shapes(OpRun& r) {
  Tensor probs = r.zeros(Shape{2, 3, 4, 5, 6}), accum = r.zeros(Shape{1, 3, 8, 8, 8});
  Tensor wsum = r.zeros(Shape{1, 1, 8, 8, 8}), weight = r.zeros(Shape{1, 1, 4, 5, 6});
  Tensor bad_weight = r.zeros(Shape{1, 1, 4, 5, 5});
  expect_error(
      [&] {
        r.be().window_accumulate(probs, 0, bad_weight, {0, 0, 0}, accum, wsum);
      },
      "window_accumulate: weight [1, 1, 4, 5, 5] must be [1, 1, 4, 5, 6] (the window of "
      "probs [2, 3, 4, 5, 6])");
  expect_error(
      [&] {
        r.be().window_accumulate(probs, 2, weight, {0, 0, 0}, accum, wsum);
      },
      "window_accumulate: window 2 is out of range for probs [2, 3, 4, 5, 6]");
  Tensor bad_accum = r.zeros(Shape{1, 2, 8, 8, 8});
  expect_error(
      [&] {
        r.be().window_accumulate(probs, 0, weight, {0, 0, 0}, bad_accum, wsum);
      },
      "window_accumulate: accum [1, 2, 8, 8, 8] must be [1, 3, D, H, W]");
  Tensor bad_labels = r.zeros(Shape{2, 3, 4, 5, 6});
  expect_error([&] { r.be().argmax_channels(probs, bad_labels); },
               "argmax_channels: labels [2, 3, 4, 5, 6] must be [2, 1, 4, 5, 6] for x "
               "[2, 3, 4, 5, 6]");
}

}  // namespace

USEG_OP_CASES(window) {
  CaseList cases;
  for (const Shape& s : activation_shapes()) {
    const std::string tag = shape_name(s);
    cases.push_back(eval_case("accumulate_" + tag, [=](OpRun& r) { accumulate(r, s); }));
    cases.push_back(eval_case("argmax_" + tag, [=](OpRun& r) { argmax(r, s); }));
    cases.push_back(eval_case("flip_" + tag, [=](OpRun& r) { flip(r, s); }));
  }
  cases.push_back(eval_case("window_larger_than_volume", window_larger_than_volume));
  cases.push_back(eval_case("argmax_ties_pick_the_first_channel", argmax_ties));
  cases.push_back(eval_case("bad_shapes_are_named", bad_shapes));
  return cases;
}

}  // namespace useg::test
