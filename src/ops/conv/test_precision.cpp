// The CUDA backend's mixed-precision convolutions (--precision fp16 / bf16): every conv and
// transposed-conv pass against the naive double reference computed on the operands rounded to
// the half format, within one rounding of the result; and every result value is exactly a
// half / bfloat16 number (the output really went through cuDNN's half tensor). Under cudacpu the
// cuDNN routines are emulated (tests/cudacpu/cudnn_emulated.cpp) from the channels-last operands
// the backend hands over, so an operand cast with a wrong view or layout fails here; on a GPU
// the same test checks cuDNN's half-precision kernels. Skips without a CUDA backend
// (CudaVsCpuBase).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <string>

#include "common/compare.h"
#include "common/shapes.h"
#include "cuda/conv_naive.h"
#include "cuda/cuda_vs_cpu.h"
#include "ops/ref_util.h"
#include "useg/backend.h"

namespace useg::test {
namespace {

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

struct HalfParam {
  ConvCase c;
  bool transposed;
  bool bf16;
};
void PrintTo(const HalfParam& p, std::ostream* os) {  // not a byte dump with padding
  *os << (p.bf16 ? "bf16 " : "fp16 ") << (p.transposed ? "deconv " : "conv ") << p.c.name;
}

class CudaHalfConv : public ::testing::TestWithParam<HalfParam>, public CudaVsCpuBase {};

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

TEST_P(CudaHalfConv, AllPassesMatchTheReferenceOnRoundedOperands) {
  const HalfParam& hp = GetParam();
  BackendOptions o;
  o.precision = hp.bf16 ? "bf16" : "fp16";
  if (!make_backends(o)) GTEST_SKIP() << m_skip;
  const ConvCase& cc = hp.c;
  const bool tr = hp.transposed;
  const auto& k = cc.g.kernel;
  const Shape xs = cc.x;
  const Shape ws = conv_weight_shape(cc, tr), ys = conv_case_output_shape(cc, tr);
  const Tensor x = random_tensor(xs, 16), w = random_tensor(ws, 17), dy = random_tensor(ys, 19);
  const Tensor xg = on_gpu(x), wg = on_gpu(w), dyg = on_gpu(dy);
  Tensor yg = gpu_empty(ys), dxg = gpu_empty(xs), dwg = gpu_empty(ws);
  if (tr) {
    gpu().deconv_forward(xg, wg, nullptr, yg, cc.g);
    gpu().deconv_backward_data(dyg, wg, dxg, cc.g);
    gpu().deconv_backward_weights(xg, dyg, dwg, nullptr, cc.g);
  } else {
    gpu().conv_forward(xg, wg, nullptr, yg, cc.g);
    gpu().conv_backward_data(dyg, wg, dxg, cc.g);
    gpu().conv_backward_weights(xg, dyg, dwg, nullptr, cc.g);
  }
  const ref::Vec xv = ref::to_vec(rounded(x, hp.bf16)), wv = ref::to_vec(rounded(w, hp.bf16));
  const ref::Vec dyv = ref::to_vec(rounded(dy, hp.bf16));
  const int64_t kk = int64_t(k[0]) * k[1] * k[2];
  const int64_t terms = kk * std::max(xs.c(), cc.cout);
  expect_half_result(yg,
                     tr ? naive::deconv_forward(xv, xs, wv, ws, ys, cc.g)
                        : naive::conv_forward(xv, xs, wv, ws, ys, cc.g),
                     ys, hp.bf16, terms, "forward");
  expect_half_result(dxg,
                     tr ? naive::deconv_backward_data(dyv, ys, wv, ws, xs, cc.g)
                        : naive::conv_backward_data(dyv, ys, wv, ws, xs, cc.g),
                     xs, hp.bf16, terms, "backward data");
  expect_half_result(dwg,
                     tr ? naive::deconv_backward_weights(xv, xs, dyv, ys, ws, cc.g)
                        : naive::conv_backward_weights(xv, xs, dyv, ys, ws, cc.g),
                     ws, hp.bf16, xs.n() * xs.spatial() * kk, "backward weights");
}

std::vector<HalfParam> half_params() {
  std::vector<HalfParam> v;
  for (bool bf16 : {false, true}) {
    for (const ConvCase& c : conv_cases()) v.push_back({c, false, bf16});
    for (const ConvCase& c : deconv_cases()) v.push_back({c, true, bf16});
  }
  return v;
}

INSTANTIATE_TEST_SUITE_P(Cases, CudaHalfConv, ::testing::ValuesIn(half_params()),
                         [](const ::testing::TestParamInfo<HalfParam>& i) {
                           return std::string(i.param.bf16 ? "bf16_" : "fp16_") +
                                  (i.param.transposed ? "deconv_" : "conv_") + i.param.c.name;
                         });

}  // namespace
}  // namespace useg::test
