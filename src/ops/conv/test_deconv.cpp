// The transposed-convolution cases of the op harness (tests/harness/op_case.h) on every case of
// the shared catalogue: forward with and without bias, backward-data, backward-weights with and
// without the bias gradient vs the naive reference (a scatter of each input times the kernel); a
// hand-computed check of the [Ci, Co, k...] weight order; finite differences (grad); the
// shape-error messages. Tolerances: test_conv.h (largest error observed ~5e-6; any misplaced tap
// or transposed weight is off by O(0.1)).
#include <string>

#include "common/expect_error.h"
#include "ops/conv/test_conv.h"

namespace useg::test {
namespace {

// PyTorch's ConvTranspose weight is [Ci, Co, k...]. Two input channels (1 and 10) at one pixel,
// three output channels, kernel width 2: y[co, k] = 1 * w[0, co, k] + 10 * w[1, co, k].
void weight_order(OpRun& r) {
  ConvGeom g;
  g.kernel = {1, 1, 2};
  g.stride = {1, 1, 2};
  float xv[2] = {1.f, 10.f};
  float wv[12] = {1, 2, 3, 4, 5, 6,  // w[0, co, k] for co = 0..2, k = 0..1
                  7, 8, 9, 10, 11, 12};
  Tensor x = Tensor::wrap(xv, Shape{1, 2, 1, 1, 1}), w = Tensor::wrap(wv, Shape{2, 3, 1, 1, 2});
  Tensor y = r.garbage(Shape{1, 3, 1, 1, 2});
  r.be().deconv_forward(r.dev(x), r.dev(w), nullptr, y, g);
  EXPECT_TRUE(allclose(r.host(y).to_vector(), {71, 82, 93, 104, 115, 126}));
}

ConvGeom geom_k2s2() {
  ConvGeom g;
  g.kernel = {1, 2, 2};
  g.stride = {1, 2, 2};
  return g;
}

void forward_errors(OpRun& r) {
  Backend& be = r.be();
  const ConvGeom g = geom_k2s2();
  Tensor x = r.zeros(Shape{1, 4, 1, 3, 5}), w = r.zeros(Shape{3, 2, 1, 2, 2});
  Tensor y = r.zeros(Shape{1, 2, 1, 6, 10});
  expect_error([&] { be.deconv_forward(x, w, nullptr, y, g); },
               "deconv_forward: weight [3, 2, 1, 2, 2] (Ci, Co, k...) expects 3 input channels, "
               "input is [1, 4, 1, 3, 5]");
  Tensor w4 = r.zeros(Shape{4, 2, 1, 2, 2}), bad_y = r.zeros(Shape{1, 2, 1, 6, 9});
  expect_error([&] { be.deconv_forward(x, w4, nullptr, bad_y, g); },
               "deconv_forward: output is [1, 2, 1, 6, 9], expected [1, 2, 1, 6, 10] for input "
               "[1, 4, 1, 3, 5], weight [4, 2, 1, 2, 2], kernel 1x2x2 stride 1x2x2 pad 0x0x0");
  Tensor bias = r.zeros(Shape{4});
  expect_error([&] { be.deconv_forward(x, w4, &bias, y, g); },
               "deconv_forward: bias is [4], expected [2]");
}

void backward_errors(OpRun& r) {
  Backend& be = r.be();
  const ConvGeom g = geom_k2s2();
  Tensor w = r.zeros(Shape{4, 2, 1, 2, 2}), dx = r.zeros(Shape{1, 4, 1, 3, 5});
  Tensor dy = r.zeros(Shape{1, 2, 1, 6, 11});
  expect_error([&] { be.deconv_backward_data(dy, w, dx, g); },
               "deconv_backward_data: dy is [1, 2, 1, 6, 11], expected [1, 2, 1, 6, 10]");
  Tensor x = r.zeros(Shape{1, 4, 1, 3, 5}), dy_ok = r.zeros(Shape{1, 2, 1, 6, 10});
  Tensor dw = r.zeros(Shape{4, 2, 1, 3, 3});
  expect_error([&] { be.deconv_backward_weights(x, dy_ok, dw, nullptr, g); },
               "deconv_backward_weights: dw [4, 2, 1, 3, 3] does not match kernel 1x2x2");
}

// Perf: the U-Net's up-sampling (kernel = stride = the pooling's) from the pooled size.
OpCase deconv_perf(bool three_d) {
  return perf_case(std::string("deconv_forward_") + (three_d ? "3d" : "2d"),
                   [=](Backend& be, double scale) {
                     const Shape s = perf_shape(three_d, scale);
                     ConvGeom up;
                     up.kernel = up.stride =
                         three_d ? std::array<int, 3>{2, 2, 2} : std::array<int, 3>{1, 2, 2};
                     const Shape xs{s.n(), s.c(), s.d() / up.stride[0], s.h() / up.stride[1],
                                    s.w() / up.stride[2]};
                     const int64_t C = s.c();
                     Tensor x = perf_random(be, xs, 7), bias = perf_random(be, Shape{C}, 4);
                     Tensor w = perf_random(be, Shape{C, C, up.kernel[0], up.kernel[1], up.kernel[2]}, 8);
                     Tensor y = Tensor::empty(deconv_output_shape(xs, C, up), be.device());
                     return PerfCall{xs, double(s.numel()) * 4 * 1.25,
                                     [=, &be]() mutable { be.deconv_forward(x, w, &bias, y, up); }};
                   });
}

}  // namespace

USEG_OP_CASES(conv) {
  CaseList cases;
  for (const ConvCase& c : deconv_cases()) {
    cases.push_back(eval_case("deconv_forward_" + c.name, [=](OpRun& r) {
      check_conv_pass(r, c, true, ConvPass::Forward);
    }));
    cases.push_back(eval_case("deconv_backward_data_" + c.name, [=](OpRun& r) {
      check_conv_pass(r, c, true, ConvPass::BackwardData);
    }));
    cases.push_back(eval_case("deconv_backward_weights_" + c.name, [=](OpRun& r) {
      check_conv_pass(r, c, true, ConvPass::BackwardWeights);
    }));
    if (c.name == "2d_k3s2p1" || c.name == "3d_k2s2")
      cases.push_back(grad_case("deconv_backward_" + c.name,
                                [=](OpRun& r) { check_conv_gradients(r, c, true); }));
  }
  cases.push_back(eval_case("deconv_weight_is_input_channels_then_output_channels", weight_order));
  cases.push_back(eval_case("deconv_forward_names_mismatched_shapes", forward_errors));
  cases.push_back(eval_case("deconv_backward_names_mismatched_shapes", backward_errors));
  cases.push_back(deconv_perf(false));
  cases.push_back(deconv_perf(true));
  return cases;
}

}  // namespace useg::test
