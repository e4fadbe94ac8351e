#include "ops/pool/ref.h"

#include <array>

namespace useg::ref {

namespace {

Shape pool_out(const Shape& x, const PoolGeom& g) {
  Shape y = x;
  for (int a = 0; a < 3; ++a) y[2 + a] = (x[2 + a] - g.kernel[a]) / g.stride[a] + 1;
  return y;
}

// The (d, h, w) of the first maximum of x[n, c] over the window of output position (od, oh, ow).
std::array<int64_t, 3> first_max(const Array& x, int64_t n, int64_t c, int64_t od, int64_t oh,
                                 int64_t ow, const PoolGeom& g) {
  std::array<int64_t, 3> best{od * g.stride[0], oh * g.stride[1], ow * g.stride[2]};
  double best_v = x(n, c, best[0], best[1], best[2]);
  for (int64_t kd = 0; kd < g.kernel[0]; ++kd)
    for (int64_t kh = 0; kh < g.kernel[1]; ++kh)
      for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
        int64_t d = od * g.stride[0] + kd, h = oh * g.stride[1] + kh, w = ow * g.stride[2] + kw;
        if (x(n, c, d, h, w) > best_v) {  // strictly greater: the first maximum wins ties
          best_v = x(n, c, d, h, w);
          best = {d, h, w};
        }
      }
  return best;
}

}  // namespace

Array maxpool_forward(const Array& x, const PoolGeom& g) {
  Array y(pool_out(x.shape, g));
  for (int64_t n = 0; n < y.shape[0]; ++n)
    for (int64_t c = 0; c < y.shape[1]; ++c)
      for (int64_t od = 0; od < y.shape[2]; ++od)
        for (int64_t oh = 0; oh < y.shape[3]; ++oh)
          for (int64_t ow = 0; ow < y.shape[4]; ++ow) {
            auto m = first_max(x, n, c, od, oh, ow, g);
            y(n, c, od, oh, ow) = x(n, c, m[0], m[1], m[2]);
          }
  return y;
}

Array maxpool_backward(const Array& x, const Array& dy, const PoolGeom& g) {
  Array dx(x.shape);
  for (int64_t n = 0; n < dy.shape[0]; ++n)
    for (int64_t c = 0; c < dy.shape[1]; ++c)
      for (int64_t od = 0; od < dy.shape[2]; ++od)
        for (int64_t oh = 0; oh < dy.shape[3]; ++oh)
          for (int64_t ow = 0; ow < dy.shape[4]; ++ow) {
            auto m = first_max(x, n, c, od, oh, ow, g);
            dx(n, c, m[0], m[1], m[2]) += dy(n, c, od, oh, ow);
          }
  return dx;
}

Array avgpool_forward(const Array& x, const PoolGeom& g) {
  Array y(pool_out(x.shape, g));
  const double volume = double(g.kernel[0]) * g.kernel[1] * g.kernel[2];
  for (int64_t n = 0; n < y.shape[0]; ++n)
    for (int64_t c = 0; c < y.shape[1]; ++c)
      for (int64_t od = 0; od < y.shape[2]; ++od)
        for (int64_t oh = 0; oh < y.shape[3]; ++oh)
          for (int64_t ow = 0; ow < y.shape[4]; ++ow) {
            double sum = 0;
            for (int64_t kd = 0; kd < g.kernel[0]; ++kd)
              for (int64_t kh = 0; kh < g.kernel[1]; ++kh)
                for (int64_t kw = 0; kw < g.kernel[2]; ++kw)
                  sum += x(n, c, od * g.stride[0] + kd, oh * g.stride[1] + kh,
                           ow * g.stride[2] + kw);
            y(n, c, od, oh, ow) = sum / volume;
          }
  return y;
}

Array avgpool_backward(const Shape& x, const Array& dy, const PoolGeom& g) {
  Array dx(x);
  const double volume = double(g.kernel[0]) * g.kernel[1] * g.kernel[2];
  for (int64_t n = 0; n < dy.shape[0]; ++n)
    for (int64_t c = 0; c < dy.shape[1]; ++c)
      for (int64_t od = 0; od < dy.shape[2]; ++od)
        for (int64_t oh = 0; oh < dy.shape[3]; ++oh)
          for (int64_t ow = 0; ow < dy.shape[4]; ++ow)
            for (int64_t kd = 0; kd < g.kernel[0]; ++kd)
              for (int64_t kh = 0; kh < g.kernel[1]; ++kh)
                for (int64_t kw = 0; kw < g.kernel[2]; ++kw)
                  dx(n, c, od * g.stride[0] + kd, oh * g.stride[1] + kh, ow * g.stride[2] + kw) +=
                      dy(n, c, od, oh, ow) / volume;
  return dx;
}

}  // namespace useg::ref
