// useg::cpu::WinogradConv (src/cpu/winograd.h), the F(2,3) convolution of the CPU inference plan,
// against the project's naive convolution (tests/reference/conv_ref.h, double, plain layout):
//  - parity on 2D (kernel {1,3,3}, D = 1), per-slice ({1,3,3}, D > 1) and 3D ({3,3,3}) cases with
//    even and odd sizes (odd sizes clip the last 2-wide tile), channel counts off the 8-blocks,
//    activation off / ReLU / leaky and a nonzero bias, including a case whose tile count is larger
//    than and not a multiple of tiles_per_block() (a partial last work block);
//  - dst's padding lanes (channels cout .. ceil(cout/8)*8-1) come out as exact zeros over garbage;
//  - the output is bitwise the same on 1 and 2 OpenMP threads;
//  - set_weights called again takes effect on the next run;
//  - supports() accepts only {1,3,3} and {3,3,3}; gemm_gflop() is below the direct convolution's.
// The tolerance is relative to the magnitude sum |w|*|x| + |b| of each output (Winograd's
// transforms add and halve, so its error scales with that sum, not with the output's value).
#include <gtest/gtest.h>
#include <omp.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "cpu/winograd.h"
#include "ops/conv/ref.h"

namespace {

using useg::cpu::WinogradConv;

#define SKIP_WITHOUT_WINOGRAD()                  \
  if (!useg::cpu::winograd_available())          \
  GTEST_SKIP() << "no AVX2+FMA on this CPU: the plan uses oneDNN's direct convolution"

// Deterministic values in [-1, 1).
std::vector<float> random_values(int64_t n, uint64_t seed) {
  std::vector<float> v(n);
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 7;
  for (auto& x : v) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    x = float(-1.0 + 2.0 * double(s >> 11) * (1.0 / 9007199254740992.0));
  }
  return v;
}

int64_t round8(int64_t c) { return (c + 7) / 8 * 8; }

struct Problem {
  int64_t cin, cout, d, h, w;
  bool k3d;  // kernel {3,3,3} instead of {1,3,3}
  int64_t spatial() const { return d * h * w; }
  int kd() const { return k3d ? 3 : 1; }
  std::array<int, 3> kernel() const { return {kd(), 3, 3}; }
  std::array<int64_t, 3> dhw() const { return {d, h, w}; }
};

// The project's naive convolution (tests/reference/conv_ref.h, double, zero padding 1 on the
// 3-tap axes) + bias, then act. x [cin, D, H, W], w [cout, cin, kd, 3, 3]. Returns y
// [cout, D, H, W] and mag = sum |w|*|x| + |b| per output (the same convolution of the absolute
// values).
void reference(const Problem& p, const std::vector<float>& x, const std::vector<float>& w,
               const std::vector<float>& b, bool activate, float slope, std::vector<double>& y,
               std::vector<double>& mag) {
  using useg::ref::Array;
  auto array = [](const useg::Shape& shape, const std::vector<float>& v, bool absolute) {
    Array a(shape);
    for (size_t i = 0; i < v.size(); ++i) a.v[i] = absolute ? std::fabs(v[i]) : v[i];
    return a;
  };
  useg::ConvGeom g;
  g.kernel = p.kernel();
  g.pad = {p.k3d ? 1 : 0, 1, 1};
  const useg::Shape xs{1, p.cin, p.d, p.h, p.w}, ws{p.cout, p.cin, p.kd(), 3, 3}, bs{p.cout};
  for (bool absolute : {false, true}) {
    const Array bias = array(bs, b, absolute);
    Array out = useg::ref::conv_forward(array(xs, x, absolute), array(ws, w, absolute), &bias, g);
    (absolute ? mag : y) = std::move(out.v);
  }
  if (activate)
    for (double& v : y)
      if (v < 0) v *= slope;
}

// Plain [C, S] <-> blocked [ceil(C/8), S, 8]; to_blocked leaves the padding lanes zero.
std::vector<float> to_blocked(const std::vector<float>& x, int64_t C, int64_t S) {
  std::vector<float> out(round8(C) * S, 0.f);
  for (int64_t c = 0; c < C; ++c)
    for (int64_t s = 0; s < S; ++s) out[((c / 8) * S + s) * 8 + c % 8] = x[c * S + s];
  return out;
}
float blocked_at(const std::vector<float>& xb, int64_t S, int64_t c, int64_t s) {
  return xb[((c / 8) * S + s) * 8 + c % 8];
}

// Runs conv on plain x with dst pre-filled by `fill`; returns the blocked dst.
std::vector<float> run_blocked(WinogradConv& conv, const Problem& p, const std::vector<float>& x,
                               bool activate, float slope,
                               float fill = std::numeric_limits<float>::quiet_NaN()) {
  const std::vector<float> xb = to_blocked(x, p.cin, p.spatial());
  std::vector<float> dst(round8(p.cout) * p.spatial(), fill);
  const int threads = omp_get_max_threads();
  std::vector<float> scratch(conv.scratch_floats(threads));
  conv.run(xb.data(), dst.data(), activate, slope, scratch.data(), threads);
  return dst;
}

// Every real output element within 1e-5 * mag + 1e-6 of the reference (NaN fails).
void expect_matches(const Problem& p, const std::vector<float>& dst, const std::vector<double>& y,
                    const std::vector<double>& mag, const std::string& what) {
  const int64_t S = p.spatial();
  int failures = 0;
  for (int64_t o = 0; o < p.cout; ++o)
    for (int64_t s = 0; s < S; ++s) {
      const double got = blocked_at(dst, S, o, s), ref = y[o * S + s];
      const double tol = 1e-5 * mag[o * S + s] + 1e-6;
      if (!(std::fabs(got - ref) <= tol) && failures++ < 5)
        ADD_FAILURE() << what << ": channel " << o << " position " << s << " (d,h,w = "
                      << s / (p.h * p.w) << "," << s / p.w % p.h << "," << s % p.w
                      << "): got " << got << ", expected " << ref << ", tolerance " << tol;
    }
  EXPECT_EQ(failures, 0) << what << ": mismatching elements";
}

// ---------------------------------------------------------------------------------------------
// 1. Parity with the reference.

struct Case {
  const char* name;
  Problem p;
  int act;  // 0 none, 1 ReLU (slope 0), 2 leaky (slope 0.01)
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class WinogradParity : public ::testing::TestWithParam<Case> {};

TEST_P(WinogradParity, MatchesNaiveReference) {
  SKIP_WITHOUT_WINOGRAD();
  const Case& c = GetParam();
  const Problem& p = c.p;
  const bool activate = c.act != 0;
  const float slope = c.act == 2 ? 0.01f : 0.f;
  const auto x = random_values(p.cin * p.spatial(), 1);
  const auto w = random_values(p.cout * p.cin * p.kd() * 9, 2);
  const auto b = random_values(p.cout, 3);
  WinogradConv conv(p.cin, p.cout, p.dhw(), p.kernel());
  conv.set_weights(w.data(), b.data());
  std::vector<double> y, mag;
  reference(p, x, w, b, activate, slope, y, mag);
  expect_matches(p, run_blocked(conv, p, x, activate, slope), y, mag, c.name);
}

const Case kCases[] = {
    // 2D, kernel {1,3,3}: even, odd, single pixel, tiny non-square.
    {"2d_1x8x8_c3_k5_none", {3, 5, 1, 8, 8, false}, 0},
    {"2d_1x7x9_c12_k24_relu", {12, 24, 1, 7, 9, false}, 1},
    {"2d_1x1x1_c8_k8_leaky", {8, 8, 1, 1, 1, false}, 2},
    {"2d_1x2x5_c1_k16_none", {1, 16, 1, 2, 5, false}, 0},
    {"2d_1x9x6_c32_k40_leaky", {32, 40, 1, 9, 6, false}, 2},
    // Several depth slices, kernel {1,3,3}.
    {"slices_3x6x5_c12_k5_relu", {12, 5, 3, 6, 5, false}, 1},
    {"slices_2x5x8_c8_k16_none", {8, 16, 2, 5, 8, false}, 0},
    // 3D, kernel {3,3,3}.
    {"3d_4x4x4_c8_k8_none", {8, 8, 4, 4, 4, true}, 0},
    {"3d_5x3x7_c3_k24_leaky", {3, 24, 5, 3, 7, true}, 2},
    {"3d_1x1x1_c12_k5_relu", {12, 5, 1, 1, 1, true}, 1},
    {"3d_3x4x5_c1_k40_none", {1, 40, 3, 4, 5, true}, 0},
    {"3d_4x6x6_c32_k16_leaky", {32, 16, 4, 6, 6, true}, 2},
    // Many tiles: partial last work block (checked in PartialBlocksAreCovered). The tile counts
    // (32 * 35 = 1120, 5 * 8 * 10 = 400) have no factor 3, so they are never a multiple of
    // tiles_per_block() (a multiple of 6), whatever the thread count.
    {"2d_1x64x70_c8_k8_leaky", {8, 8, 1, 64, 70, false}, 2},
    {"2d_1x64x70_c32_k24_relu", {32, 24, 1, 64, 70, false}, 1},
    {"3d_9x15x19_c12_k8_none", {12, 8, 9, 15, 19, true}, 0},
    // More input channels than one 128-channel chunk of the products (accumulated into M):
    // 300 -> 304 padded = 128 + 128 + 48.
    {"2d_1x6x7_c300_k24_leaky", {300, 24, 1, 6, 7, false}, 2},
    {"3d_3x4x3_c260_k16_none", {260, 16, 3, 4, 3, true}, 0},
};

INSTANTIATE_TEST_SUITE_P(Cases, WinogradParity, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

// The large cases above must keep spanning several work blocks with a partial last one.
TEST(Winograd, PartialBlocksAreCovered) {
  SKIP_WITHOUT_WINOGRAD();
  for (const Case& c : kCases) {
    if (c.p.spatial() < 1000) continue;
    WinogradConv conv(c.p.cin, c.p.cout, c.p.dhw(), c.p.kernel());
    EXPECT_GT(conv.tiles(), conv.tiles_per_block()) << c.name;
    EXPECT_NE(conv.tiles() % conv.tiles_per_block(), 0) << c.name;
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Padding lanes of dst are exact zeros, whatever dst held before.

TEST(Winograd, PaddingLanesWrittenAsZeros) {
  SKIP_WITHOUT_WINOGRAD();
  for (const float fill : {std::numeric_limits<float>::quiet_NaN(), 123.f}) {
    for (const Problem& p : {Problem{5, 5, 1, 7, 9, false}, Problem{12, 13, 3, 4, 5, true}}) {
      const auto x = random_values(p.cin * p.spatial(), 4);
      const auto w = random_values(p.cout * p.cin * p.kd() * 9, 5);
      const auto b = random_values(p.cout, 6);
      WinogradConv conv(p.cin, p.cout, p.dhw(), p.kernel());
      conv.set_weights(w.data(), b.data());
      for (const bool activate : {false, true}) {
        const auto dst = run_blocked(conv, p, x, activate, 0.01f, fill);
        int64_t nonzero = 0;
        for (int64_t o = p.cout; o < round8(p.cout); ++o)
          for (int64_t s = 0; s < p.spatial(); ++s) {
            const float v = blocked_at(dst, p.spatial(), o, s);
            nonzero += !(v == 0.f);  // NaN and garbage fail
          }
        EXPECT_EQ(nonzero, 0) << "cout " << p.cout << " fill " << fill << " activate "
                              << activate;
      }
    }
  }
}

// 16-channel blocks (what oneDNN's training primitives use on AVX2): the same arithmetic as
// 8-channel blocks, so every real output is bitwise the 8-block run's; the padding lanes of the
// last 16-block (here cout 20 and 13: 8-groups 3 and 2) are zeros, over NaN garbage.
TEST(Winograd, SixteenChannelBlocksGiveTheEightBlockResult) {
  SKIP_WITHOUT_WINOGRAD();
  auto to16 = [](const std::vector<float>& x, int64_t C, int64_t S) {
    std::vector<float> out((C + 15) / 16 * 16 * S, 0.f);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t s = 0; s < S; ++s) out[((c / 16) * S + s) * 16 + c % 16] = x[c * S + s];
    return out;
  };
  for (const Problem& p : {Problem{24, 20, 1, 7, 9, false}, Problem{12, 13, 3, 4, 5, true},
                           Problem{40, 16, 2, 6, 6, true}}) {
    const int64_t S = p.spatial();
    const auto x = random_values(p.cin * S, 11);
    const auto w = random_values(p.cout * p.cin * p.kd() * 9, 12);
    const auto b = random_values(p.cout, 13);
    WinogradConv c8(p.cin, p.cout, p.dhw(), p.kernel()),
        c16(p.cin, p.cout, p.dhw(), p.kernel(), 16);
    c8.set_weights(w.data(), b.data());
    c16.set_weights(w.data(), b.data());
    const auto y8 = run_blocked(c8, p, x, true, 0.01f);
    const auto x16 = to16(x, p.cin, S);
    std::vector<float> y16((p.cout + 15) / 16 * 16 * S, std::numeric_limits<float>::quiet_NaN());
    const int threads = omp_get_max_threads();
    std::vector<float> scratch(c16.scratch_floats(threads));
    c16.run(x16.data(), y16.data(), true, 0.01f, scratch.data(), threads);
    int64_t differ = 0, padding_nonzero = 0;
    for (int64_t o = 0; o < (p.cout + 15) / 16 * 16; ++o)
      for (int64_t s = 0; s < S; ++s) {
        const float v = y16[((o / 16) * S + s) * 16 + o % 16];
        if (o < p.cout)
          differ += std::memcmp(&v, &y8[((o / 8) * S + s) * 8 + o % 8], 4) != 0;
        else
          padding_nonzero += !(v == 0.f);
      }
    EXPECT_EQ(differ, 0) << "cin " << p.cin << " cout " << p.cout;
    EXPECT_EQ(padding_nonzero, 0) << "cin " << p.cin << " cout " << p.cout;
  }
  EXPECT_THROW(WinogradConv(8, 8, {1, 4, 4}, {1, 3, 3}, 4), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------
// 3. Bitwise the same on 1 and 2 threads (both for one object run under each setting, and for
// objects constructed under each setting, whose block sizes may differ).

TEST(Winograd, DeterministicAcrossThreadCounts) {
  SKIP_WITHOUT_WINOGRAD();
  const int before = omp_get_max_threads();
  for (const Problem& p : {Problem{12, 20, 1, 16, 21, false}, Problem{8, 24, 1, 64, 70, false},
                           Problem{12, 20, 4, 10, 12, true}}) {
    const auto x = random_values(p.cin * p.spatial(), 7);
    const auto w = random_values(p.cout * p.cin * p.kd() * 9, 8);
    const auto b = random_values(p.cout, 9);
    std::vector<float> out[2], own[2];
    omp_set_num_threads(2);
    WinogradConv shared(p.cin, p.cout, p.dhw(), p.kernel());
    shared.set_weights(w.data(), b.data());
    for (int t = 0; t < 2; ++t) {
      omp_set_num_threads(t + 1);
      out[t] = run_blocked(shared, p, x, true, 0.01f);
      WinogradConv conv(p.cin, p.cout, p.dhw(), p.kernel());
      conv.set_weights(w.data(), b.data());
      own[t] = run_blocked(conv, p, x, true, 0.01f);
    }
    omp_set_num_threads(before);
    const std::string what = "case " + std::to_string(p.d) + "x" + std::to_string(p.h) + "x" +
                             std::to_string(p.w);
    ASSERT_EQ(out[0].size(), out[1].size());
    EXPECT_EQ(std::memcmp(out[0].data(), out[1].data(), out[0].size() * 4), 0)
        << what << ": one object, 1 vs 2 threads";
    EXPECT_EQ(std::memcmp(own[0].data(), own[1].data(), own[0].size() * 4), 0)
        << what << ": objects built under 1 vs 2 threads";
    EXPECT_EQ(std::memcmp(out[0].data(), own[0].data(), out[0].size() * 4), 0)
        << what << ": object built under 2 vs 1 threads, run on 1";
  }
  EXPECT_EQ(omp_get_max_threads(), before);
}

// ---------------------------------------------------------------------------------------------
// 4. set_weights again: the next run uses the new weights and bias.

TEST(Winograd, SetWeightsAgainTakesEffect) {
  SKIP_WITHOUT_WINOGRAD();
  for (const Problem& p : {Problem{12, 24, 1, 9, 10, false}, Problem{8, 5, 3, 5, 6, true}}) {
    const auto x = random_values(p.cin * p.spatial(), 10);
    WinogradConv conv(p.cin, p.cout, p.dhw(), p.kernel());
    for (uint64_t round = 0; round < 2; ++round) {
      const auto w = random_values(p.cout * p.cin * p.kd() * 9, 20 + round);
      const auto b = random_values(p.cout, 30 + round);
      conv.set_weights(w.data(), b.data());
      std::vector<double> y, mag;
      reference(p, x, w, b, false, 0.f, y, mag);
      expect_matches(p, run_blocked(conv, p, x, false, 0.f), y, mag,
                     "set_weights round " + std::to_string(round) + (p.k3d ? " 3d" : " 2d"));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 5. supports() and 6. gemm_gflop().

TEST(Winograd, SupportsOnly3x3And3x3x3) {
  SKIP_WITHOUT_WINOGRAD();
  EXPECT_TRUE(WinogradConv::supports({1, 3, 3}));
  EXPECT_TRUE(WinogradConv::supports({3, 3, 3}));
  for (const std::array<int, 3> k : {std::array<int, 3>{1, 1, 1}, {3, 1, 3}, {1, 5, 5},
                                     {3, 3, 1}, {1, 3, 1}, {5, 3, 3}})
    EXPECT_FALSE(WinogradConv::supports(k)) << k[0] << "x" << k[1] << "x" << k[2];
}

TEST(Winograd, GemmGflopBelowDirectConvolution) {
  SKIP_WITHOUT_WINOGRAD();
  for (const Problem& p : {Problem{32, 32, 1, 64, 64, false}, Problem{32, 32, 16, 16, 16, true}}) {
    WinogradConv conv(p.cin, p.cout, p.dhw(), p.kernel());
    const double direct = 2.0 * p.cin * p.cout * 9 * p.kd() * p.spatial() / 1e9;
    EXPECT_GT(conv.gemm_gflop(), 0.0) << (p.k3d ? "3d" : "2d");
    EXPECT_LT(conv.gemm_gflop(), direct) << (p.k3d ? "3d" : "2d");
  }
}

}  // namespace
