// Winograd F(2,3) convolution for the CPU inference plan (Lavin & Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2016), on the plan's 8-channel blocked layout with AVX2 + FMA.
//
// Why: on a 2-core AVX2 machine oneDNN's direct convolutions already run at the FMA peak, and
// oneDNN 2.6 offers Winograd only for AVX-512. F(2,3) computes a 2-wide output tile of a 3-tap
// correlation from 4 inputs with 4 multiplies instead of 6; per axis, so a 3x3 convolution needs
// 16 multiplies per 2x2 output tile instead of 36 (2.25x fewer) and a 3x3x3 one 64 per 2x2x2
// tile instead of 216 (3.375x fewer). The transform matrices hold only 0, +-1 and 1/2, so the
// float32 error stays within a few units of the last place of the direct result's.
//
// The math, per axis, for inputs d0..d3 (positions 2t-1 .. 2t+2) and taps g0..g2:
//   input   B^T d = (d0 - d2,  d1 + d2,  d2 - d1,  d1 - d3)
//   weights G g   = (g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2)
//   output  A^T m = (m0 + m1 + m2,  m1 - m2 - m3)
// and y = A^T [ (G g) . (B^T d) ] summed over input channels: a batch of alpha = 4^n independent
// matrix products [tiles x C] * [C x K], one per position xi of the 4x4 (x4) transformed tile.
//
// Tensors are one sample in a blocked layout with block B = 8 (the plan's, blocked_ops.h:
// nChw8c / nCdhw8c) or 16 (what oneDNN's training primitives pick on AVX2: nChw16c /
// nCdhw16c): channel c at position s is at ((c / B) * S + s) * B + c % B, padding lanes zero.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace useg::cpu {

// True when this CPU runs the AVX2 + FMA kernels below (checked at run time).
bool winograd_available();

class WinogradConv {
 public:
  // kernel {1, 3, 3} (a 3x3 convolution of every depth slice; 2D images have D = 1) or
  // {3, 3, 3}; stride 1, zero padding 1 on the 3-tap axes, so the output has the input's size.
  static bool supports(const std::array<int, 3>& kernel);

  // cin, cout: channel counts (any; the blocked tensors pad them to multiples of 8);
  // dhw: the spatial size D, H, W of input and output; block: the layout's B (8 or 16).
  WinogradConv(int64_t cin, int64_t cout, const std::array<int64_t, 3>& dhw,
               const std::array<int, 3>& kernel, int block = 8);
  ~WinogradConv();
  WinogradConv(const WinogradConv&) = delete;
  WinogradConv& operator=(const WinogradConv&) = delete;

  // w: [cout, cin, kd, kh, kw] as PyTorch stores a Conv2d/Conv3d weight; bias: [cout].
  void set_weights(const float* w, const float* bias);

  // Floats of scratch run() needs on `threads` threads (the transformed tiles of one work block
  // per thread); a plan keeps one buffer, sized for its largest convolution, for all of them.
  int64_t scratch_floats(int threads) const;

  // dst = act(conv(src) + bias), act(z) = z >= 0 ? z : slope * z when `activate` (slope 0 =
  // ReLU), else the identity. src [ceil(cin/B), D, H, W, B] and dst [ceil(cout/B), D, H, W, B]
  // blocked; dst's padding lanes are written as zeros. Runs on `threads` OpenMP threads with
  // scratch_floats(threads) floats of `scratch`; the result does not depend on the thread count.
  void run(const float* src, float* dst, bool activate, float slope, float* scratch,
           int threads);

  // GFLOP (2 per multiply-add) of the batched products one run performs, padding included: to
  // compare with the direct convolution's 2 * cin * cout * taps * D * H * W / 1e9 (the plan's
  // profile reports the direct figure for Winograd steps too, so totals stay comparable).
  double gemm_gflop() const;
  // Tiles per work block (a multiple of 6), exposed for the tests that cover partial blocks.
  int64_t tiles_per_block() const { return m_nb; }
  int64_t tiles() const { return m_tiles; }

 private:
  int m_alpha = 16;                  // transformed values per tile: 16 (3x3) or 64 (3x3x3)
  bool m_3d = false;
  int64_t m_cin, m_cout, m_cp, m_kp;  // channel counts, padded to 8 (input) and 16 (U, M)
  std::array<int64_t, 3> m_dhw;
  int m_block = 8;                   // the layout's channel block
  std::array<int64_t, 3> m_tdhw;     // tiles along D, H, W
  int64_t m_tiles = 0, m_nb = 0;
  std::vector<float> m_bias;        // [m_kp], zero past cout
  std::vector<float> m_u;            // [alpha][m_kp / 16][m_cp][16]; empty until set_weights
  // scratch per thread: V [alpha][nb][m_cp], then M [alpha][nb][m_kp]
};

}  // namespace useg::cpu
