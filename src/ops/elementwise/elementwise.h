// Elementwise arithmetic, one element at a time. These are one-liners, kept here so that the CPU
// loops and the CUDA kernels state the same math.
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

}  // namespace useg::ops
