// Elementwise arithmetic and channel (un)concatenation, one element at a time. These are
// one-liners, kept here so that the CPU loops and the CUDA kernels state the same math.
#pragma once

#include <cmath>
#include <cstdint>

#include "ops/hd.h"

namespace useg::ops {

USEG_HD float add_element(float a, float b) { return a + b; }
USEG_HD float mul_element(float a, float b) { return a * b; }
USEG_HD float axpy_element(float alpha, float x, float y) { return alpha * x + y; }
USEG_HD float scale_element(float x, float s) { return x * s; }
USEG_HD double square_element(float x) { return double(x) * double(x); }

// True for finite values: NaN fails every comparison and +-inf exceeds the largest float.
// (Written without isfinite so that -ffast-math builds cannot fold it away.)
USEG_HD bool is_finite_element(float x) { return fabsf(x) <= 3.402823466e+38f; }

// Channel concatenation y [N, Ca+Cb, S] = [a [N, Ca, S], b [N, Cb, S]].
// Channel row (n, c) of y comes from row `*src_row` of a (returns 0) or of b (returns 1), where
// a row is the S contiguous values of one (sample, channel). split_channels is the inverse map.
USEG_HD int concat_source_row(int64_t n, int64_t c, int64_t ca, int64_t cb, int64_t* src_row) {
  if (c < ca) {
    *src_row = n * ca + c;
    return 0;
  }
  *src_row = n * cb + (c - ca);
  return 1;
}

}  // namespace useg::ops
