// The convolutions in the CUDA backend's other precisions, as cases of the op harness
// (tests/harness/op_case.h), CUDA only (the CPU backend computes in float32 and refuses them):
//  - tf32_<conv|deconv>_<case>: the backend's default arithmetic, TF32, every pass of every conv
//    and transposed-conv case of the catalogue vs the naive reference and the CPU backend within
//    the TF32 tolerance (test_conv.h); every other case runs strict fp32;
//  - fp16_ / bf16_<conv|deconv>_<case>: the mixed-precision convolutions (--precision fp16 /
//    bf16) against the naive double reference computed on the operands rounded to the half
//    format, within one rounding of the result; and every result value is exactly a half /
//    bfloat16 number (the output really went through cuDNN's half tensor). Under cudacpu the
//    cuDNN routines are emulated (tests/cudacpu/cudnn_emulated.cpp) from the channels-last
//    operands the backend hands over, so an operand cast with a wrong view or layout fails here;
//    on a GPU the same cases check cuDNN's half-precision kernels.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "ops/conv/test_conv.h"

namespace useg::test {
namespace {

void tf32_passes(OpRun& r, const ConvCase& c, bool transposed) {
  for (ConvPass pass : {ConvPass::Forward, ConvPass::BackwardData, ConvPass::BackwardWeights})
    check_conv_pass(r, c, transposed, pass, true);
}

// float -> IEEE half (round to nearest even; GCC's _Float16) or bfloat16 (round to nearest
// even on the upper 16 bits; finite inputs) -> float.
float round_half(float v, bool bf16) {
  if (!bf16) return static_cast<float>(static_cast<_Float16>(v));
  uint32_t u;
  std::memcpy(&u, &v, 4);
  u += 0x7FFFu + ((u >> 16) & 1u);
  u &= 0xFFFF0000u;
  float r;
  std::memcpy(&r, &u, 4);
  return r;
}

Tensor rounded(const Tensor& t, bool bf16) {
  Tensor r = t.clone();
  for (int64_t i = 0; i < r.numel(); ++i) r.data()[i] = round_half(r.data()[i], bf16);
  return r;
}

// got (a CUDA result) equals the reference within one rounding of the format (2^-10 relative
// for fp16, 2^-7 for bf16: the reference rounded once more, or a GPU's float accumulation order
// tipping a tie) plus a float-accumulation term, and each value is a number of the format.
void expect_half_result(const Tensor& got_dev, const ref::Vec& want, const Shape& s, bool bf16,
                        int64_t terms, const char* what) {
  SCOPED_TRACE(what);
  const Tensor got = got_dev.to(Device::CPU);
  ASSERT_EQ(got.shape(), s);
  double m = 0;
  for (double v : want) m = std::max(m, std::fabs(v));
  const double rel = bf16 ? std::ldexp(1.0, -7) : std::ldexp(1.0, -10);
  const double abs = 1e-6 * std::sqrt(double(terms)) * m + 1e-7;
  int bad = 0, not_half = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double g = got.data()[i], w = want[size_t(i)];
    if (std::fabs(g - w) > abs + rel * std::fabs(w) && ++bad <= 5)
      ADD_FAILURE() << "element " << i << ": got " << g << ", expected " << w;
    if (round_half(got.data()[i], bf16) != got.data()[i] && ++not_half <= 5)
      ADD_FAILURE() << "element " << i << ": " << g << " is not a "
                    << (bf16 ? "bfloat16" : "half") << " number";
  }
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(not_half, 0);
}

void half_passes(OpRun& r, const ConvCase& cc, bool transposed, bool bf16) {
  const auto& k = cc.g.kernel;
  const Shape xs = cc.x;
  const Shape ws = conv_weight_shape(cc, transposed), ys = conv_case_output_shape(cc, transposed);
  const Tensor x = random_tensor(xs, 16), w = random_tensor(ws, 17), dy = random_tensor(ys, 19);
  Tensor xg = r.dev(x), wg = r.dev(w), dyg = r.dev(dy);
  Tensor yg = r.garbage(ys), dxg = r.garbage(xs), dwg = r.garbage(ws);
  Backend& be = r.be();
  if (transposed) {
    be.deconv_forward(xg, wg, nullptr, yg, cc.g);
    be.deconv_backward_data(dyg, wg, dxg, cc.g);
    be.deconv_backward_weights(xg, dyg, dwg, nullptr, cc.g);
  } else {
    be.conv_forward(xg, wg, nullptr, yg, cc.g);
    be.conv_backward_data(dyg, wg, dxg, cc.g);
    be.conv_backward_weights(xg, dyg, dwg, nullptr, cc.g);
  }
  const ref::Array xr = ref::Array::from(rounded(x, bf16)), wr = ref::Array::from(rounded(w, bf16));
  const ref::Array dyr = ref::Array::from(rounded(dy, bf16));
  const int64_t kk = int64_t(k[0]) * k[1] * k[2];
  const int64_t terms = kk * std::max(xs.c(), cc.cout);
  expect_half_result(yg,
                     (transposed ? ref::deconv_forward(xr, wr, nullptr, cc.g)
                                 : ref::conv_forward(xr, wr, nullptr, cc.g)).v,
                     ys, bf16, terms, "forward");
  expect_half_result(dxg,
                     (transposed ? ref::deconv_backward_data(dyr, wr, xs, cc.g)
                                 : ref::conv_backward_data(dyr, wr, xs, cc.g)).v,
                     xs, bf16, terms, "backward data");
  expect_half_result(dwg,
                     (transposed ? ref::deconv_backward_weights(xr, dyr, ws, cc.g)
                                 : ref::conv_backward_weights(xr, dyr, ws, cc.g)).v,
                     ws, bf16, xs.n() * xs.spatial() * kk, "backward weights");
}

void add_cases(CaseList& cases, const ConvCase& c, bool transposed) {
  const std::string kind = transposed ? "deconv_" : "conv_";
  OpCase tf32 = eval_case("tf32_" + kind + c.name, [=](OpRun& r) { tf32_passes(r, c, transposed); });
  tf32.devices = {Device::CUDA};
  tf32.precision = "tf32";
  cases.push_back(tf32);
  for (bool bf16 : {false, true}) {
    OpCase half = eval_case((bf16 ? "bf16_" : "fp16_") + kind + c.name,
                            [=](OpRun& r) { half_passes(r, c, transposed, bf16); });
    half.devices = {Device::CUDA};
    half.precision = bf16 ? "bf16" : "fp16";
    cases.push_back(half);
  }
}

}  // namespace

USEG_OP_CASES(conv) {
  CaseList cases;
  for (const ConvCase& c : conv_cases()) add_cases(cases, c, false);
  for (const ConvCase& c : deconv_cases()) add_cases(cases, c, true);
  return cases;
}

}  // namespace useg::test
