// The convolution cases of the op harness (tests/harness/op_case.h) on every case of the shared
// catalogue: forward with and without bias, backward-data, backward-weights with and without the
// bias gradient, repeated calls (cached primitives and plans must read the new buffers) vs the
// naive double reference; finite differences (grad); the shape-error messages. Tolerances:
// test_conv.h. The transposed convolutions are in test_deconv.cpp, the other precisions in
// test_precision.cpp, the CPU training path in test_train.cpp.
#include <string>

#include "common/expect_error.h"
#include "ops/conv/test_conv.h"

namespace useg::test {

void expect_conv(OpRun& r, const std::string& what, const Tensor& got, const Tensor& want,
                 int64_t terms, bool tf32) {
  if (tf32) return r.expect(what, got, want, conv_tolerance_tf32(terms), conv_tolerance_tf32(terms));
  r.expect(what, got, want, kConvTol, conv_tolerance_fp32(terms));
  if (r.device() != Device::CPU) {
    EXPECT_ALLCLOSE(r.host(got), want, conv_tolerance_fp32(terms))
        << what << " vs the naive reference, within cuDNN's tolerance";
  }
}

void check_conv_pass(OpRun& r, const ConvCase& c, bool transposed, ConvPass pass, bool tf32) {
  const Shape ws = conv_weight_shape(c, transposed), ys = conv_case_output_shape(c, transposed);
  const int64_t out = conv_output_terms(c), wt = conv_weight_terms(c);
  const uint32_t seed = transposed ? 60 : 10;
  Backend& be = r.be();
  if (pass == ConvPass::Forward) {
    const Tensor x = random_tensor(c.x, seed + 1), w = random_tensor(ws, seed + 2);
    const Tensor b = random_tensor(Shape{c.cout}, seed + 3);
    const ref::Array xa = ref::Array::from(x), wa = ref::Array::from(w), ba = ref::Array::from(b);
    for (bool with_bias : {false, true}) {
      const ref::Array* bias = with_bias ? &ba : nullptr;
      const ref::Array want =
          transposed ? ref::deconv_forward(xa, wa, bias, c.g) : ref::conv_forward(xa, wa, bias, c.g);
      Tensor bd = r.dev(b), y = r.garbage(ys);
      if (transposed)
        be.deconv_forward(r.dev(x), r.dev(w), with_bias ? &bd : nullptr, y, c.g);
      else
        be.conv_forward(r.dev(x), r.dev(w), with_bias ? &bd : nullptr, y, c.g);
      expect_conv(r, with_bias ? "y with bias" : "y", y, want.to_tensor(), out, tf32);
    }
  } else if (pass == ConvPass::BackwardData) {
    const Tensor w = random_tensor(ws, seed + 11), dy = random_tensor(ys, seed + 12);
    const ref::Array want =
        transposed
            ? ref::deconv_backward_data(ref::Array::from(dy), ref::Array::from(w), c.x, c.g)
            : ref::conv_backward_data(ref::Array::from(dy), ref::Array::from(w), c.x, c.g);
    Tensor dx = r.garbage(c.x);
    if (transposed) be.deconv_backward_data(r.dev(dy), r.dev(w), dx, c.g);
    else be.conv_backward_data(r.dev(dy), r.dev(w), dx, c.g);
    expect_conv(r, "dx", dx, want.to_tensor(), out, tf32);
  } else {
    const Tensor x = random_tensor(c.x, seed + 21), dy = random_tensor(ys, seed + 22);
    const ref::Array xa = ref::Array::from(x), dya = ref::Array::from(dy);
    const ref::Array want = transposed ? ref::deconv_backward_weights(xa, dya, ws, c.g)
                                       : ref::conv_backward_weights(xa, dya, ws, c.g);
    const Tensor dbias = ref::bias_grad(dya).to_tensor();
    for (bool with_bias : {false, true}) {
      const std::string tag = with_bias ? " with dbias" : "";
      Tensor dw = r.garbage(ws), db = r.garbage(Shape{c.cout});
      if (transposed)
        be.deconv_backward_weights(r.dev(x), r.dev(dy), dw, with_bias ? &db : nullptr, c.g);
      else
        be.conv_backward_weights(r.dev(x), r.dev(dy), dw, with_bias ? &db : nullptr, c.g);
      expect_conv(r, "dw" + tag, dw, want.to_tensor(), wt, tf32);
      if (!with_bias) continue;
      r.expect("dbias", db, dbias, tf32 ? kSums : kConvTol, kSums);
      if (r.device() != Device::CPU) {
        EXPECT_ALLCLOSE(r.host(db), dbias, kSums) << "dbias";
      }
    }
  }
}

namespace {

// Repeated calls reuse the cached primitives: they must read the new buffers, not the old ones.
void repeated_calls(OpRun& r, const ConvCase& c) {
  const Tensor w = random_tensor(conv_weight_shape(c, false), 41);
  for (uint32_t seed : {42u, 43u}) {
    const Tensor x = random_tensor(c.x, seed);
    const ref::Array want =
        ref::conv_forward(ref::Array::from(x), ref::Array::from(w), nullptr, c.g);
    Tensor y = r.garbage(want.shape);
    r.be().conv_forward(r.dev(x), r.dev(w), nullptr, y, c.g);
    expect_conv(r, "y seed " + std::to_string(seed), y, want.to_tensor(), conv_output_terms(c));
  }
}

}  // namespace

// The backend's gradients of loss = sum(conv(x, w, b) * r) against central differences of the
// same loss on the double reference. The loss is linear in each argument, so the differences are
// exact up to double rounding; the tolerance covers the backend's float32 gradients.
void check_conv_gradients(OpRun& r, const ConvCase& c, bool transposed) {
  const Shape ws = conv_weight_shape(c, transposed), ys = conv_case_output_shape(c, transposed);
  const Tensor x = random_tensor(c.x, 51), w = random_tensor(ws, 52);
  const Tensor b = random_tensor(Shape{c.cout}, 53), dy = random_tensor(ys, 54);
  const ref::Vec xv = ref::to_vec(x), wv = ref::to_vec(w), bv = ref::to_vec(b);
  const ref::Vec dyv = ref::to_vec(dy);
  auto loss = [&](const ref::Vec& xx, const ref::Vec& ww, const ref::Vec& bb) {
    const ref::Array xa(c.x, xx), wa(ws, ww), ba(Shape{c.cout}, bb);
    return ref::dot((transposed ? ref::deconv_forward(xa, wa, &ba, c.g)
                                : ref::conv_forward(xa, wa, &ba, c.g))
                        .v,
                    dyv);
  };
  const ref::Vec gx =
      ref::numeric_gradient([&](const ref::Vec& v) { return loss(v, wv, bv); }, xv, 1e-2);
  const ref::Vec gw =
      ref::numeric_gradient([&](const ref::Vec& v) { return loss(xv, v, bv); }, wv, 1e-2);
  const ref::Vec gb =
      ref::numeric_gradient([&](const ref::Vec& v) { return loss(xv, wv, v); }, bv, 1e-2);
  Tensor dx = r.garbage(c.x), dw = r.garbage(ws), db = r.garbage(Shape{c.cout});
  Backend& be = r.be();
  if (transposed) {
    be.deconv_backward_data(r.dev(dy), r.dev(w), dx, c.g);
    be.deconv_backward_weights(r.dev(x), r.dev(dy), dw, &db, c.g);
  } else {
    be.conv_backward_data(r.dev(dy), r.dev(w), dx, c.g);
    be.conv_backward_weights(r.dev(x), r.dev(dy), dw, &db, c.g);
  }
  EXPECT_ALLCLOSE(r.host(dx), ref::to_tensor(gx, c.x), kConvTol) << "dx";
  EXPECT_ALLCLOSE(r.host(dw), ref::to_tensor(gw, ws), kConvTol) << "dw";
  EXPECT_ALLCLOSE(r.host(db), ref::to_tensor(gb, Shape{c.cout}), kConvTol) << "dbias";
}

namespace {

ConvGeom geom_3x3_same() {
  ConvGeom g;
  g.kernel = {1, 3, 3};
  g.pad = {0, 1, 1};
  return g;
}

void forward_errors(OpRun& r) {
  Backend& be = r.be();
  const ConvGeom g = geom_3x3_same();
  Tensor x = r.zeros(Shape{1, 2, 1, 7, 5}), w = r.zeros(Shape{4, 3, 1, 3, 3});
  Tensor y = r.zeros(Shape{1, 4, 1, 7, 5});
  expect_error([&] { be.conv_forward(x, w, nullptr, y, g); },
               "conv_forward: weight [4, 3, 1, 3, 3] expects 3 input channels, input is "
               "[1, 2, 1, 7, 5]");
  Tensor x3 = r.zeros(Shape{1, 3, 1, 7, 5}), bad_y = r.zeros(Shape{1, 4, 1, 7, 6});
  expect_error([&] { be.conv_forward(x3, w, nullptr, bad_y, g); },
               "conv_forward: output is [1, 4, 1, 7, 6], expected [1, 4, 1, 7, 5] for input "
               "[1, 3, 1, 7, 5], weight [4, 3, 1, 3, 3], kernel 1x3x3 stride 1x1x1 pad 0x1x1");
  Tensor bias = r.zeros(Shape{5});
  expect_error([&] { be.conv_forward(x3, w, &bias, y, g); },
               "conv_forward: bias is [5], expected [4]");
  Tensor w5 = r.zeros(Shape{4, 3, 1, 5, 5});
  expect_error([&] { be.conv_forward(x3, w5, nullptr, y, g); },
               "conv_forward: weight [4, 3, 1, 5, 5] does not match kernel 1x3x3");
  Tensor x2d = r.zeros(Shape{1, 3, 7, 5});
  expect_error([&] { be.conv_forward(x2d, w, nullptr, y, g); },
               "conv_forward: input must be rank 5 (NCDHW), got [1, 3, 7, 5]");
}

void kernel_larger_than_input(OpRun& r) {
  ConvGeom g;
  g.kernel = {1, 5, 5};
  Tensor x = r.zeros(Shape{1, 1, 1, 3, 8}), w = r.zeros(Shape{2, 1, 1, 5, 5});
  Tensor y = r.zeros(Shape{1, 2, 1, 1, 4});
  expect_error([&] { r.be().conv_forward(x, w, nullptr, y, g); },
               "conv_forward: kernel 1x5x5 is larger than the padded input [1, 1, 1, 3, 8]");
}

void backward_errors(OpRun& r) {
  Backend& be = r.be();
  const ConvGeom g = geom_3x3_same();
  Tensor w = r.zeros(Shape{4, 3, 1, 3, 3}), dx = r.zeros(Shape{1, 3, 1, 7, 5});
  Tensor dy = r.zeros(Shape{1, 2, 1, 7, 5});
  expect_error([&] { be.conv_backward_data(dy, w, dx, g); },
               "conv_backward_data: dy is [1, 2, 1, 7, 5], expected [1, 4, 1, 7, 5]");
  Tensor dx2 = r.zeros(Shape{1, 2, 1, 7, 5});
  expect_error([&] { be.conv_backward_data(dy, w, dx2, g); },
               "conv_backward_data: weight [4, 3, 1, 3, 3] expects 3 input channels, dx is "
               "[1, 2, 1, 7, 5]");
  Tensor x = r.zeros(Shape{1, 3, 1, 7, 5}), dy4 = r.zeros(Shape{1, 4, 1, 7, 5});
  Tensor dw = r.zeros(Shape{4, 3, 1, 3, 3}), db = r.zeros(Shape{3});
  expect_error([&] { be.conv_backward_weights(x, dy4, dw, &db, g); },
               "conv_backward_weights: dbias is [3], expected [4]");
  Tensor dw_bad = r.zeros(Shape{4, 2, 1, 3, 3});
  expect_error([&] { be.conv_backward_weights(x, dy4, dw_bad, nullptr, g); },
               "conv_backward_weights: dw [4, 2, 1, 3, 3] expects 2 input channels, input is "
               "[1, 3, 1, 7, 5]");
}

void invalid_geometry(OpRun& r) {
  ConvGeom g = geom_3x3_same();
  g.stride = {1, 0, 1};
  Tensor x = r.zeros(Shape{1, 3, 1, 7, 5}), w = r.zeros(Shape{4, 3, 1, 3, 3});
  Tensor y = r.zeros(Shape{1, 4, 1, 7, 5});
  expect_error([&] { r.be().conv_forward(x, w, nullptr, y, g); },
               "conv_forward: invalid geometry kernel 1x3x3 stride 1x0x1 pad 0x1x1");
}

// Perf: the U-Net's 3x3 (3x3x3 in 3D) convolution with as many outputs as inputs, each pass.
OpCase conv_perf(ConvPass pass, bool three_d) {
  static const char* kNames[] = {"conv_forward", "conv_backward_data", "conv_backward_weights"};
  return perf_case(std::string(kNames[int(pass)]) + (three_d ? "_3d" : "_2d"),
                   [=](Backend& be, double scale) {
                     const Shape s = perf_shape(three_d, scale);
                     ConvGeom g;
                     g.kernel = three_d ? std::array<int, 3>{3, 3, 3} : std::array<int, 3>{1, 3, 3};
                     g.pad = three_d ? std::array<int, 3>{1, 1, 1} : std::array<int, 3>{0, 1, 1};
                     const int64_t C = s.c();
                     const Device d = be.device();
                     const Shape wshape{C, C, g.kernel[0], g.kernel[1], g.kernel[2]};
                     Tensor x = perf_random(be, s, 1), dy = perf_random(be, s, 2);
                     Tensor w = perf_random(be, wshape, 3, -0.1f, 0.1f);
                     Tensor bias = perf_random(be, Shape{C}, 4), y = Tensor::empty(s, d);
                     Tensor dx = Tensor::empty(s, d), dw = Tensor::empty(wshape, d);
                     Tensor db = Tensor::empty(Shape{C}, d);
                     return PerfCall{s, double(s.numel()) * 8, [=, &be]() mutable {
                                       if (pass == ConvPass::Forward)
                                         be.conv_forward(x, w, &bias, y, g);
                                       else if (pass == ConvPass::BackwardData)
                                         be.conv_backward_data(dy, w, dx, g);
                                       else
                                         be.conv_backward_weights(x, dy, dw, &db, g);
                                     }};
                   });
}

}  // namespace

USEG_OP_CASES(conv) {
  CaseList cases;
  for (const ConvCase& c : conv_cases()) {
    for (ConvPass pass : {ConvPass::Forward, ConvPass::BackwardData, ConvPass::BackwardWeights}) {
      static const char* kNames[] = {"forward_", "backward_data_", "backward_weights_"};
      cases.push_back(eval_case(kNames[int(pass)] + c.name,
                                [=](OpRun& r) { check_conv_pass(r, c, false, pass); }));
    }
    cases.push_back(eval_case("repeated_calls_see_new_data_" + c.name,
                              [=](OpRun& r) { repeated_calls(r, c); }));
    if (c.name == "2d_stride2" || c.name == "3d_stride2")
      cases.push_back(grad_case("backward_" + c.name,
                                [=](OpRun& r) { check_conv_gradients(r, c, false); }));
  }
  cases.push_back(eval_case("forward_names_mismatched_shapes", forward_errors));
  cases.push_back(eval_case("kernel_larger_than_input", kernel_larger_than_input));
  cases.push_back(eval_case("backward_names_mismatched_shapes", backward_errors));
  cases.push_back(eval_case("invalid_geometry", invalid_geometry));
  for (bool three_d : {false, true})
    for (ConvPass pass : {ConvPass::Forward, ConvPass::BackwardData, ConvPass::BackwardWeights})
      cases.push_back(conv_perf(pass, three_d));
  return cases;
}

}  // namespace useg::test
