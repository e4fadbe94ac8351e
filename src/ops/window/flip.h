// Mirroring of the spatial axes (test-time augmentation): the source index of output element i.
#pragma once

#include <cstdint>

#include "ops/hd.h"

namespace useg::ops {

// i indexes y [N, C, D, H, W] (row-major); axes bit 1 = W, 2 = H, 4 = D.
USEG_HD int64_t flip_source_index(int64_t i, int64_t d, int64_t h, int64_t w, int axes) {
  int64_t x = i % w;
  int64_t r = i / w;
  int64_t y = r % h;
  r /= h;
  int64_t z = r % d;
  int64_t nc = r / d;
  if (axes & 1) x = w - 1 - x;
  if (axes & 2) y = h - 1 - y;
  if (axes & 4) z = d - 1 - z;
  return ((nc * d + z) * h + y) * w + x;
}

}  // namespace useg::ops
