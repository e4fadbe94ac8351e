// Channels-first <-> channels-last index maps of a tensor viewed as [N, C, S]: NCDHW (S = D*H*W)
// against NDHWC = [N, S, C]. A cuDNN filter [K, C, kD, kH, kW] is the same view with N = K and
// S = kD*kH*kW, so [K, kD, kH, kW, C] (CUDNN_TENSOR_NHWC) is its channels-last form. Used by the
// CUDA backend's fp16/bf16 casts (kernels.cu), which transpose while they convert,
// and by the host tests.
#pragma once

#include <cstdint>

#include "ops/hd.h"

namespace useg::ops {

// Element j of the channels-last [N, S, C] reads element channels_last_source(j) of [N, C, S].
USEG_HD int64_t channels_last_source(int64_t j, int64_t c, int64_t s) {
  const int64_t ch = j % c;
  const int64_t r = j / c;
  const int64_t v = r % s;
  const int64_t n = r / s;
  return (n * c + ch) * s + v;
}

// Element i of the channels-first [N, C, S] reads element channels_first_source(i) of [N, S, C]
// (the inverse permutation of channels_last_source).
USEG_HD int64_t channels_first_source(int64_t i, int64_t c, int64_t s) {
  const int64_t v = i % s;
  const int64_t r = i / s;
  const int64_t ch = r % c;
  const int64_t n = r / c;
  return (n * s + v) * c + ch;
}

}  // namespace useg::ops
