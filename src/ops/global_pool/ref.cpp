// Naive reference of global average pooling, written from its definition (independent of
// ops/global_pool/global_pool.h): a mean in double over every position of a channel.
#include "ops/global_pool/ref.h"

namespace useg::ref {

Array global_avg_pool_forward(const Array& x) {
  const Shape& s = x.shape;
  Array y(Shape{s[0], s[1], 1, 1, 1});
  const double count = double(s[2] * s[3] * s[4]);
  for (int64_t n = 0; n < s[0]; ++n)
    for (int64_t c = 0; c < s[1]; ++c) {
      double sum = 0;
      for (int64_t d = 0; d < s[2]; ++d)
        for (int64_t h = 0; h < s[3]; ++h)
          for (int64_t w = 0; w < s[4]; ++w) sum += x(n, c, d, h, w);
      y(n, c, 0, 0, 0) = sum / count;
    }
  return y;
}

Array global_avg_pool_backward(const Array& dy, const Shape& s) {
  Array dx(s);
  const double count = double(s[2] * s[3] * s[4]);
  for (int64_t n = 0; n < s[0]; ++n)
    for (int64_t c = 0; c < s[1]; ++c)
      for (int64_t d = 0; d < s[2]; ++d)
        for (int64_t h = 0; h < s[3]; ++h)
          for (int64_t w = 0; w < s[4]; ++w) dx(n, c, d, h, w) = dy(n, c, 0, 0, 0) / count;
  return dx;
}

}  // namespace useg::ref
