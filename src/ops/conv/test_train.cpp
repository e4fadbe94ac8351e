// The convolution's training path as cases of the op harness (tests/harness/op_case.h):
// conv_forward_training and conv_backward against the plain per-op conv_forward /
// conv_backward_weights / conv_backward_data they replace, on the same backend. On the CPU it
// is a fast path (conv_forward_training keeps the input in oneDNN's layout; conv_backward
// reorders dy once for both backward primitives, and 3x3(x3) stride-1 convolutions of at least
// 4096 positions run forward and backward-data as Winograd F(2,3), within float rounding of oneDNN's
// direct convolution: 2e-5 here, inputs in [-1, 1); pointwise convolutions run as sgemm on plain
// NCDHW, cpu_pointwise.h, their dw summed in another order: within 2e-4 of oneDNN's); a device
// without a fast path falls back to the per-op calls, which then agree exactly.
#include "harness/op_case.h"

namespace useg::test {
namespace {

// Its own xorshift inputs (as the test always had), uniform in [-1, 1).
Tensor xorshift_tensor(const Shape& s, uint64_t seed) {
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

// Returns whether the backend kept its own copy of the input (the caller may then release x).
bool check_case(Backend& be, const Case& c, bool saved_path, bool need_dx) {
  const auto up = [&](const Tensor& t) { return t.to(be.device()); };
  const auto empty = [&](const Shape& s) { return Tensor::empty(s, be.device()); };
  const Shape& xs = c.x;
  Shape ws{c.cout, xs[1], c.g.kernel[0], c.g.kernel[1], c.g.kernel[2]};
  Tensor x = up(xorshift_tensor(xs, 1)), w = up(xorshift_tensor(ws, 2)), b = up(xorshift_tensor(Shape{c.cout}, 3));
  Shape ys = conv_output_shape(xs, c.cout, c.g);
  Tensor y_ref = empty(ys), y = empty(ys);
  be.conv_forward(x, w, &b, y_ref, c.g);
  Backend::ConvSaved saved;
  if (saved_path)
    saved = be.conv_forward_training(x, w, &b, y, c.g);
  else
    be.conv_forward(x, w, &b, y, c.g);
  EXPECT_ALLCLOSE(y, y_ref, (Tolerance{2e-5, 2e-5})) << xs.str() << " forward";

  Tensor dy = up(xorshift_tensor(ys, 4));
  Tensor dw_ref = empty(ws), db_ref = empty(Shape{c.cout}),
         dx_ref = empty(xs);
  be.conv_backward_weights(x, dy, dw_ref, &db_ref, c.g);
  be.conv_backward_data(dy, w, dx_ref, c.g);
  Tensor dw = empty(ws), db = empty(Shape{c.cout}), dx = empty(xs);
  be.conv_backward(x, dy, w, need_dx ? &dx : nullptr, dw, &db, c.g, saved);
  // Backward-weights: the same primitive on the same values, only the layouts differ — except
  // pointwise convolutions on the CPU, whose dw is a matrix product summed in another order.
  const bool pointwise = c.g.kernel == std::array<int, 3>{1, 1, 1};
  const double dw_tol = pointwise ? 2e-4 : 1e-6, db_tol = pointwise ? 2e-5 : 1e-6;
  EXPECT_ALLCLOSE(dw, dw_ref, (Tolerance{dw_tol, 1e-5})) << xs.str() << " dw";
  EXPECT_ALLCLOSE(db, db_ref, (Tolerance{db_tol, 1e-5})) << xs.str() << " dbias";
  if (need_dx) {
    EXPECT_ALLCLOSE(dx, dx_ref, (Tolerance{2e-5, 2e-5})) << xs.str() << " dx";
  }
  if (!saved.holds_input()) return false;
  // The input released: the handle alone gives the same gradients, bit for bit.
  EXPECT_EQ(saved.x_shape, xs);
  Tensor dw2 = empty(ws), db2 = empty(Shape{c.cout}), dx2 = empty(xs);
  be.conv_backward(Tensor(), dy, w, need_dx ? &dx2 : nullptr, dw2, &db2, c.g, saved);
  EXPECT_ALLCLOSE(dw2, dw, (Tolerance{0, 0})) << xs.str() << " dw, input released";
  EXPECT_ALLCLOSE(db2, db, (Tolerance{0, 0})) << xs.str() << " dbias, input released";
  if (need_dx) {
    EXPECT_ALLCLOSE(dx2, dx, (Tolerance{0, 0})) << xs.str() << " dx, input released";
  }
  return true;
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
          {Shape{1, 16, 1, 64, 66}, 16, k3},   // Winograd where oneDNN runs at AVX2 (>= 4096)
          {Shape{1, 8, 16, 16, 17}, 16, k333},  // and in 3D
          {Shape{1, 1, 1, 9, 7}, 8, k3},       // one input channel: oneDNN reads it plain
          {Shape{2, 3, 5, 6, 7}, 5, k333},     // odd channels, 3D
          {Shape{1, 8, 1, 11, 9}, 12, s2},     // stride 2, odd sizes
          {Shape{3, 24, 1, 4, 4}, 2, k1},      // a head
          {Shape{2, 16, 8, 16, 16}, 2, k1},    // a 3D head (pointwise: sgemm on the CPU)
          {Shape{1, 40, 1, 20, 20}, 24, k1}};  // pointwise, many channels each way
}

}  // namespace

USEG_OP_CASES(conv) {
  return {eval_case("training_path_saved_input_matches_per_op_ops",
                    [](OpRun& r) {
                      int held = 0;
                      for (const Case& c : cases()) held += check_case(r.be(), c, true, true);
                      // The CPU keeps blocked copies of the inputs oneDNN reads blocked.
                      if (r.be().device() == Device::CPU) {
                        EXPECT_GE(held, 1);
                      }
                    }),
          eval_case("training_path_without_saved_handle_and_without_dx", [](OpRun& r) {
            for (const Case& c : cases()) {
              check_case(r.be(), c, false, true);
              check_case(r.be(), c, true, false);
            }
          })};
}

}  // namespace useg::test
