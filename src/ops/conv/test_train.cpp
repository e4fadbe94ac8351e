// The CPU backend's training fast path for convolutions (conv_forward_training keeps the input
// in oneDNN's layout; conv_backward reorders dy once for both backward primitives) against the
// plain per-op conv_forward / conv_backward_weights / conv_backward_data it replaces.
#include <gtest/gtest.h>

#include "common/compare.h"
#include "useg/backend.h"

namespace useg {
namespace {

Tensor random_tensor(const Shape& s, uint64_t seed) {
  Tensor t = Tensor::empty(s);
  uint64_t v = seed * 0x9E3779B97F4A7C15ull + 3;
  for (int64_t i = 0; i < t.numel(); ++i) {
    v ^= v << 13, v ^= v >> 7, v ^= v << 17;
    t.data()[i] = float((v >> 11) * (1.0 / 9007199254740992.0)) * 2.f - 1.f;
  }
  return t;
}

struct Case {
  Shape x;
  int cout;
  ConvGeom g;
};

void check_case(const Case& c, bool saved_path, bool need_dx) {
  auto be = make_backend(Device::CPU);
  const Shape& xs = c.x;
  Shape ws{c.cout, xs[1], c.g.kernel[0], c.g.kernel[1], c.g.kernel[2]};
  Tensor x = random_tensor(xs, 1), w = random_tensor(ws, 2), b = random_tensor(Shape{c.cout}, 3);
  Shape ys = conv_output_shape(xs, c.cout, c.g);
  Tensor y_ref = Tensor::empty(ys), y = Tensor::empty(ys);
  be->conv_forward(x, w, &b, y_ref, c.g);
  Backend::ConvSaved saved;
  if (saved_path)
    saved = be->conv_forward_training(x, w, &b, y, c.g);
  else
    be->conv_forward(x, w, &b, y, c.g);
  EXPECT_ALLCLOSE(y, y_ref, (test::Tolerance{0.0, 0.0})) << xs.str() << " forward";

  Tensor dy = random_tensor(ys, 4);
  Tensor dw_ref = Tensor::empty(ws), db_ref = Tensor::empty(Shape{c.cout}),
         dx_ref = Tensor::empty(xs);
  be->conv_backward_weights(x, dy, dw_ref, &db_ref, c.g);
  be->conv_backward_data(dy, w, dx_ref, c.g);
  Tensor dw = Tensor::empty(ws), db = Tensor::empty(Shape{c.cout}), dx = Tensor::empty(xs);
  be->conv_backward(x, dy, w, need_dx ? &dx : nullptr, dw, &db, c.g, saved);
  // Same primitives on the same values: only the layout bookkeeping differs.
  EXPECT_ALLCLOSE(dw, dw_ref, (test::Tolerance{1e-6, 1e-6})) << xs.str() << " dw";
  EXPECT_ALLCLOSE(db, db_ref, (test::Tolerance{1e-6, 1e-6})) << xs.str() << " dbias";
  if (need_dx) {
    EXPECT_ALLCLOSE(dx, dx_ref, (test::Tolerance{1e-6, 1e-6})) << xs.str() << " dx";
  }
}

std::vector<Case> cases() {
  ConvGeom k3;
  k3.kernel = {1, 3, 3};
  k3.pad = {0, 1, 1};
  ConvGeom k333;
  k333.kernel = {3, 3, 3};
  k333.pad = {1, 1, 1};
  ConvGeom s2;
  s2.kernel = {1, 3, 3};
  s2.stride = {1, 2, 2};
  ConvGeom k1;
  k1.kernel = {1, 1, 1};
  return {{Shape{2, 16, 1, 12, 10}, 16, k3},   // blocked in and out
          {Shape{1, 1, 1, 9, 7}, 8, k3},       // one input channel: oneDNN reads it plain
          {Shape{2, 3, 5, 6, 7}, 5, k333},     // odd channels, 3D
          {Shape{1, 8, 1, 11, 9}, 12, s2},     // stride 2, odd sizes
          {Shape{3, 24, 1, 4, 4}, 2, k1}};     // a head
}

TEST(ConvTraining, SavedInputMatchesPerOpOps) {
  for (const Case& c : cases()) check_case(c, true, true);
}
TEST(ConvTraining, WithoutSavedHandleAndWithoutDx) {
  for (const Case& c : cases()) {
    check_case(c, false, true);
    check_case(c, true, false);
  }
}

}  // namespace
}  // namespace useg
