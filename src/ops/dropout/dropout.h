// Dropout's counter-based random numbers: u = uniform(seed, element index) is a pure function of
// its arguments, so the CPU backend, a CUDA kernel and any thread schedule draw the same mask.
//
// The hash is splitmix64 (Steele, Lea, Flood, "Fast splittable pseudorandom number generators",
// 2014): element i of the stream keyed by `seed` is mix(mix(seed) + (i + 1) * golden_gamma). The
// seed is mixed first so that nearby seeds do not give shifted copies of one stream.
#pragma once

#include <cmath>
#include <cstdint>

#include "ops/hd.h"

namespace useg::ops {

USEG_HD uint64_t splitmix64_mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform float in [0, 1) with 24 random bits (every value exactly representable).
USEG_HD float uniform_from_index(uint64_t seed, uint64_t index) {
  const uint64_t gamma = 0x9E3779B97F4A7C15ull;
  const uint64_t h = splitmix64_mix(splitmix64_mix(seed) + (index + 1) * gamma);
  return float(h >> 40) * (1.0f / 16777216.0f);
}

// Inverted dropout: keep with probability 1 - p and scale kept values by 1 / (1 - p).
// p = 1 drops everything (scale 0, never divides by zero).
USEG_HD float dropout_scale(float p) { return p < 1.f ? 1.f / (1.f - p) : 0.f; }
USEG_HD float dropout_mask_value(float u, float p, float scale) { return u >= p ? scale : 0.f; }

// Mask and output of element `index` at once.
USEG_HD float dropout_element(float x, float p, float scale, uint64_t seed, uint64_t index,
                              float* mask) {
  const float m = dropout_mask_value(uniform_from_index(seed, index), p, scale);
  *mask = m;
  return x * m;
}

}  // namespace useg::ops
