// Channel concatenation and its inverse (the U-Net's skip connections): where a channel row of
// the concatenation comes from.
#pragma once

#include <cstdint>

#include "ops/hd.h"

namespace useg::ops {

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
