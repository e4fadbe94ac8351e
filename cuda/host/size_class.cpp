#include "cuda/host/size_class.h"

namespace useg::gpu {

size_t size_class(size_t bytes) {
  auto round_up = [](size_t v, size_t m) { return (v + m - 1) / m * m; };
  if (bytes == 0) return kSizeClassGranule;
  if (bytes <= kSizeClassSmall) return round_up(bytes, kSizeClassGranule);
  size_t top = kSizeClassSmall;  // largest power of two <= bytes
  while (top <= bytes / 2) top *= 2;
  return round_up(bytes, top / 4);
}

}  // namespace useg::gpu
