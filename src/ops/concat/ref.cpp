// Channel concatenation, element by element.
#include "ops/concat/ref.h"

namespace useg::ref {

Vec concat_channels(const Vec& a, const Shape& sa, const Vec& b, const Shape& sb) {
  Shape sy{sa[0], sa[1] + sb[1], sa[2], sa[3], sa[4]};
  Vec y(sy.numel());
  for (int64_t n = 0; n < sy[0]; ++n)
    for (int64_t c = 0; c < sy[1]; ++c)
      for (int64_t d = 0; d < sy[2]; ++d)
        for (int64_t h = 0; h < sy[3]; ++h)
          for (int64_t w = 0; w < sy[4]; ++w)
            y[index5(sy, n, c, d, h, w)] =
                c < sa[1] ? a[index5(sa, n, c, d, h, w)] : b[index5(sb, n, c - sa[1], d, h, w)];
  return y;
}

}  // namespace useg::ref
