// Activations: forward and backward of one element. The CPU backend loops over these with
// OpenMP; a CUDA kernel calls the same functions from a grid-stride loop.
//
// Backward conventions (backend.h): ReLU and LeakyReLU differentiate at x (the derivative at
// exactly 0 is taken from the negative side: 0 for ReLU, alpha for LeakyReLU, as PyTorch does);
// Sigmoid and Tanh differentiate through their output y.
#pragma once

#include <cmath>
#include <cstdint>

#include "ops/hd.h"

namespace useg::ops {

// The activation kinds, numbered as useg::Activation (a static_assert in src/cpu checks it).
enum ActKind : int {
  kActIdentity = 0,
  kActReLU = 1,
  kActLeakyReLU = 2,
  kActSigmoid = 3,
  kActTanh = 4
};

USEG_HD float relu_forward(float x) { return x > 0.f ? x : 0.f; }
USEG_HD float relu_backward(float x, float dy) { return x > 0.f ? dy : 0.f; }

USEG_HD float leaky_relu_forward(float x, float alpha) { return x > 0.f ? x : alpha * x; }
// For 0 <= alpha <= 1, leaky_relu_forward's value (NaN and signed zeros included) as one max:
// what the CPU plan's fused norm + activation pass uses (src/cpu/blocked_ops.cpp; ReLU and the
// identity are alpha 0 and 1). The library is built for x86-64's baseline SSE2, where the select
// of leaky_relu_forward costs four vector instructions and this max one.
USEG_HD float leaky_relu_forward_unit_slope(float x, float alpha) {
  const float ax = alpha * x;
  return x < ax ? ax : x;
}
USEG_HD float leaky_relu_backward(float x, float alpha, float dy) {
  return x > 0.f ? dy : alpha * dy;
}

// Written so that exp never overflows: for x < 0 it uses e^x / (1 + e^x).
USEG_HD float sigmoid_forward(float x) {
  if (x >= 0.f) return 1.f / (1.f + expf(-x));
  const float e = expf(x);
  return e / (1.f + e);
}
USEG_HD float sigmoid_backward(float y, float dy) { return dy * y * (1.f - y); }

USEG_HD float tanh_forward(float x) { return tanhf(x); }
USEG_HD float tanh_backward(float y, float dy) { return dy * (1.f - y * y); }

// Dispatch on the kind. With a compile-time `kind` the switch folds away (the CPU loops
// instantiate one loop per kind); on a GPU the branch is uniform across a warp.
USEG_HD float activation_forward(int kind, float alpha, float x) {
  switch (kind) {
    case kActReLU: return relu_forward(x);
    case kActLeakyReLU: return leaky_relu_forward(x, alpha);
    case kActSigmoid: return sigmoid_forward(x);
    case kActTanh: return tanh_forward(x);
    default: return x;  // kActIdentity
  }
}

USEG_HD float activation_backward(int kind, float alpha, float x, float y, float dy) {
  switch (kind) {
    case kActReLU: return relu_backward(x, dy);
    case kActLeakyReLU: return leaky_relu_backward(x, alpha, dy);
    case kActSigmoid: return sigmoid_backward(y, dy);
    case kActTanh: return tanh_backward(y, dy);
    default: return dy;  // kActIdentity
  }
}

// Sign bits (Backend::activation_sign_bits): ReLU's and LeakyReLU's backward needs only whether
// x > 0, which for alpha >= 0 is whether y > 0; a training step keeps that as one bit per element
// instead of the float output. Word w holds bit i = (t[32 w + i] > 0); bits past n are 0.
constexpr int kSignBitsPerWord = 32;
USEG_HD int64_t sign_bit_words(int64_t n) { return (n + kSignBitsPerWord - 1) / kSignBitsPerWord; }

USEG_HD uint32_t sign_bits_word(const float* t, int64_t n, int64_t w) {
  const int64_t begin = w * kSignBitsPerWord;
  const int64_t count = n - begin < kSignBitsPerWord ? n - begin : kSignBitsPerWord;
  uint32_t bits = 0;
  for (int64_t i = 0; i < count; ++i) bits |= uint32_t(t[begin + i] > 0.f) << i;
  return bits;
}

USEG_HD bool sign_bit(const uint32_t* bits, int64_t i) {
  return (bits[i / kSignBitsPerWord] >> (i % kSignBitsPerWord)) & 1u;
}

// activation_backward of ReLU (kind kActReLU) or LeakyReLU given x > 0 as `positive`: the same
// value as relu_backward / leaky_relu_backward at that x.
USEG_HD float activation_backward_from_sign(int kind, float alpha, bool positive, float dy) {
  if (positive) return dy;
  return kind == kActReLU ? 0.f : alpha * dy;
}

}  // namespace useg::ops
