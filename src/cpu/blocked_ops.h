// Elementwise passes over oneDNN's channel-blocked layout (nChw8c / nCdhw8c, or 16c), used by
// the CPU inference plan between its oneDNN primitives so activations never leave the layout.
//
// A blocked tensor of one sample with C channels, S spatial positions and block size B stores
// channel c at position s at index ((c / B) * S + s) * B + c % B; the channel count is padded to
// a multiple of B and the padding lanes hold zeros (oneDNN relies on that), which every pass here
// keeps.
#pragma once

#include <cstdint>

namespace useg::cpu {

// What the pass after a convolution does, in PyTorch's order:
//   y = act(norm(x) + residual)
// norm is instance norm with affine gamma/beta when `instance_norm`, else the identity (a batch
// norm has been folded into the convolution); act is leaky ReLU with `slope` for
// 0 <= slope <= 1 (slope 0 = ReLU, 1 = identity). The math is the norm and activation ops'
// (src/ops/norm/norm.h, src/ops/activation/activation.h).
struct FinishSpec {
  bool instance_norm = false;
  float eps = 1e-5f;
  const float* gamma = nullptr;  // [C] or null (1)
  const float* beta = nullptr;   // [C] or null (0)
  float slope = 0.f;
};

// In place on y [C, S] blocked; residual is a blocked tensor of the same shape or null.
void blocked_finish(float* y, int64_t channels, int64_t spatial, int block,
                    const FinishSpec& spec, const float* residual);

// cat[0:Ca) = a, cat[Ca:Ca+Cb) = b along channels, all blocked with the same spatial size.
// Only needed when Ca is not a multiple of the block (otherwise the plan writes both halves in
// place).
void blocked_concat(const float* a, int64_t ca, const float* b, int64_t cb, float* cat,
                    int64_t spatial, int block);

// The scatter half of a transposed convolution whose stride equals its kernel (k = kd*kh*kw
// offsets, no overlap): u holds, for every input position, k*C channels ordered (offset, c) —
// the output of a 1x1 convolution with k*C output channels — and out [C, D*kd, H*kh, W*kw]
// receives channel c of offset (a, b, e) at (z*kd + a, y*kh + b, x*kw + e). C must be a multiple
// of the block, so every move is one block of B floats.
void blocked_pixel_shuffle(const float* u, int64_t channels, const int64_t in_dhw[3],
                           const int kernel[3], float* out, int block);

}  // namespace useg::cpu
