// The softmax cases of the op harness (tests/harness/op_case.h): every activation shape vs the
// double reference, in place, and with logits far beyond float's exp range; the shape-error
// message.
//
// Tolerance: probabilities are in [0, 1] and computed in float from exp(x - max) and one
// division, a few ulps: abs 1e-6 + rel 1e-5; across devices kTranscend (device expf / logf).
#include "common/expect_error.h"
#include "harness/op_case.h"
#include "ops/softmax/ref.h"

namespace useg::test {
namespace {

constexpr Tolerance kTol{1e-6, 1e-5};

// lo..hi = [-300, 300]: exp(300) overflows a float, so the max-shifted softmax must still match
// (the double reference does not overflow below exp(709)).
void matches_reference(OpRun& r, const Shape& s, uint32_t seed, float lo, float hi) {
  const Tensor x = random_tensor(s, seed, lo, hi);
  Tensor y = r.garbage(s);
  r.be().softmax_channels(r.dev(x), y);
  r.expect("y", y, ref::to_tensor(ref::softmax_channels(ref::to_vec(x), s), s), kTol, kTranscend);
}

void in_place(OpRun& r, const Shape& s) {
  const Tensor x = random_tensor(s, 3, -3.f, 3.f);
  Tensor y = r.empty(s);
  r.be().softmax_channels(r.dev(x), y);
  Tensor inplace = r.dev(x);
  r.be().softmax_channels(inplace, inplace);
  EXPECT_ALLCLOSE(r.host(inplace), r.host(y), kExact);
}

void shape_error(OpRun& r) {
  Tensor x = r.zeros(Shape{1, 3, 1, 7, 5}), y = r.zeros(Shape{1, 2, 1, 7, 5});
  expect_error([&] { r.be().softmax_channels(x, y); },
               "softmax_channels: y [1, 2, 1, 7, 5] does not match x [1, 3, 1, 7, 5]");
}

// Perf: softmax over 4 channels (a segmentation head's classes).
OpCase softmax_perf(bool three_d) {
  return perf_case(std::string("softmax_channels_4_") + (three_d ? "3d" : "2d"),
                   [=](Backend& be, double scale) {
                     Shape s = perf_shape(three_d, scale);
                     s[1] = 4;
                     Tensor x = perf_random(be, s, 9), y = Tensor::empty(s, be.device());
                     return PerfCall{s, double(s.numel()) * 8,
                                     [=, &be]() mutable { be.softmax_channels(x, y); }};
                   });
}

}  // namespace

USEG_OP_CASES(softmax) {
  CaseList cases;
  for (const Shape& s : activation_shapes()) {
    const std::string tag = shape_name(s);
    cases.push_back(eval_case("matches_reference_" + tag,
                              [=](OpRun& r) { matches_reference(r, s, 1, -3.f, 3.f); }));
    cases.push_back(eval_case("large_logits_are_stable_" + tag,
                              [=](OpRun& r) { matches_reference(r, s, 2, -300.f, 300.f); }));
    cases.push_back(eval_case("in_place_" + tag, [=](OpRun& r) { in_place(r, s); }));
  }
  cases.push_back(eval_case("shape_mismatch_names_both_shapes", shape_error));
  cases.push_back(softmax_perf(false));
  cases.push_back(softmax_perf(true));
  return cases;
}

}  // namespace useg::test
