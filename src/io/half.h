// IEEE 754 half precision (binary16) and bfloat16 to float32, bit-exact: every value of both
// formats is representable in float32, including subnormals, infinities and NaNs (NaN payloads
// are kept in the top mantissa bits).
#pragma once

#include <cstdint>
#include <cstring>

namespace useg {

inline float bits_to_float(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// binary16: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits.
inline float half_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  if (exp == 0x1F) return bits_to_float(sign | 0x7F800000u | (mant << 13));  // inf, nan
  if (exp != 0) return bits_to_float(sign | ((exp + 112u) << 23) | (mant << 13));
  if (mant == 0) return bits_to_float(sign);  // +-0
  // Subnormal: mant * 2^-24. Shift the leading 1 up to the implicit-bit position (bit 10);
  // each shift lowers the exponent by one from the smallest normal's 2^-14.
  uint32_t shifts = 0;
  while (!(mant & 0x400u)) {
    mant <<= 1;
    ++shifts;
  }
  return bits_to_float(sign | ((113u - shifts) << 23) | ((mant & 0x3FFu) << 13));
}

// bfloat16 is the top half of a float32.
inline float bfloat16_to_float(uint16_t b) { return bits_to_float(static_cast<uint32_t>(b) << 16); }

}  // namespace useg
