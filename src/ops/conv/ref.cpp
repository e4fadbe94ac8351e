#include "ops/conv/ref.h"

namespace useg::ref {

namespace {

// Calls f(a, k, b) (each a position d, h, w) for every position `a` of grid `from` and kernel
// tap `k` such that b = a * stride - pad + k lies inside grid `to`. Convolution reads x at b for
// output a (from = y, to = x); transposed convolution writes y at b for input a (from = x, to = y).
template <class F>
void for_each_tap(const Shape& from, const Shape& to, const ConvGeom& g, F f) {
  for (int64_t ad = 0; ad < from[2]; ++ad)
    for (int64_t ah = 0; ah < from[3]; ++ah)
      for (int64_t aw = 0; aw < from[4]; ++aw)
        for (int64_t kd = 0; kd < g.kernel[0]; ++kd)
          for (int64_t kh = 0; kh < g.kernel[1]; ++kh)
            for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
              int64_t bd = ad * g.stride[0] - g.pad[0] + kd;
              int64_t bh = ah * g.stride[1] - g.pad[1] + kh;
              int64_t bw = aw * g.stride[2] - g.pad[2] + kw;
              if (bd < 0 || bd >= to[2] || bh < 0 || bh >= to[3] || bw < 0 || bw >= to[4])
                continue;
              f(ad, ah, aw, kd, kh, kw, bd, bh, bw);
            }
}

Shape conv_out(const Shape& x, int64_t co, const ConvGeom& g) {
  Shape y = x;
  y[1] = co;
  for (int a = 0; a < 3; ++a) y[2 + a] = (x[2 + a] + 2 * g.pad[a] - g.kernel[a]) / g.stride[a] + 1;
  return y;
}

Shape deconv_out(const Shape& x, int64_t co, const ConvGeom& g) {
  Shape y = x;
  y[1] = co;
  for (int a = 0; a < 3; ++a) y[2 + a] = (x[2 + a] - 1) * g.stride[a] - 2 * g.pad[a] + g.kernel[a];
  return y;
}

void add_bias(Array& y, const Array* bias) {
  if (!bias) return;
  for (int64_t n = 0; n < y.shape[0]; ++n)
    for (int64_t c = 0; c < y.shape[1]; ++c)
      for (int64_t d = 0; d < y.shape[2]; ++d)
        for (int64_t h = 0; h < y.shape[3]; ++h)
          for (int64_t w = 0; w < y.shape[4]; ++w) y(n, c, d, h, w) += bias->v[c];
}

}  // namespace

Array conv_forward(const Array& x, const Array& w, const Array* bias, const ConvGeom& g) {
  Array y(conv_out(x.shape, w.shape[0], g));
  for (int64_t n = 0; n < x.shape[0]; ++n)
    for (int64_t co = 0; co < w.shape[0]; ++co)
      for (int64_t ci = 0; ci < w.shape[1]; ++ci)
        for_each_tap(y.shape, x.shape, g, [&](auto od, auto oh, auto ow, auto kd, auto kh,
                                              auto kw, auto id, auto ih, auto iw) {
          y(n, co, od, oh, ow) += x(n, ci, id, ih, iw) * w(co, ci, kd, kh, kw);
        });
  add_bias(y, bias);
  return y;
}

Array conv_backward_data(const Array& dy, const Array& w, const Shape& x_shape,
                         const ConvGeom& g) {
  Array dx(x_shape);
  for (int64_t n = 0; n < dy.shape[0]; ++n)
    for (int64_t co = 0; co < w.shape[0]; ++co)
      for (int64_t ci = 0; ci < w.shape[1]; ++ci)
        for_each_tap(dy.shape, x_shape, g, [&](auto od, auto oh, auto ow, auto kd, auto kh,
                                               auto kw, auto id, auto ih, auto iw) {
          dx(n, ci, id, ih, iw) += dy(n, co, od, oh, ow) * w(co, ci, kd, kh, kw);
        });
  return dx;
}

Array conv_backward_weights(const Array& x, const Array& dy, const Shape& w_shape,
                            const ConvGeom& g) {
  Array dw(w_shape);
  for (int64_t n = 0; n < x.shape[0]; ++n)
    for (int64_t co = 0; co < w_shape[0]; ++co)
      for (int64_t ci = 0; ci < w_shape[1]; ++ci)
        for_each_tap(dy.shape, x.shape, g, [&](auto od, auto oh, auto ow, auto kd, auto kh,
                                               auto kw, auto id, auto ih, auto iw) {
          dw(co, ci, kd, kh, kw) += dy(n, co, od, oh, ow) * x(n, ci, id, ih, iw);
        });
  return dw;
}

Array deconv_forward(const Array& x, const Array& w, const Array* bias, const ConvGeom& g) {
  Array y(deconv_out(x.shape, w.shape[1], g));
  for (int64_t n = 0; n < x.shape[0]; ++n)
    for (int64_t ci = 0; ci < w.shape[0]; ++ci)
      for (int64_t co = 0; co < w.shape[1]; ++co)
        for_each_tap(x.shape, y.shape, g, [&](auto id, auto ih, auto iw, auto kd, auto kh,
                                              auto kw, auto od, auto oh, auto ow) {
          y(n, co, od, oh, ow) += x(n, ci, id, ih, iw) * w(ci, co, kd, kh, kw);
        });
  add_bias(y, bias);
  return y;
}

Array deconv_backward_data(const Array& dy, const Array& w, const Shape& x_shape,
                           const ConvGeom& g) {
  Array dx(x_shape);
  for (int64_t n = 0; n < x_shape[0]; ++n)
    for (int64_t ci = 0; ci < w.shape[0]; ++ci)
      for (int64_t co = 0; co < w.shape[1]; ++co)
        for_each_tap(x_shape, dy.shape, g, [&](auto id, auto ih, auto iw, auto kd, auto kh,
                                               auto kw, auto od, auto oh, auto ow) {
          dx(n, ci, id, ih, iw) += dy(n, co, od, oh, ow) * w(ci, co, kd, kh, kw);
        });
  return dx;
}

Array deconv_backward_weights(const Array& x, const Array& dy, const Shape& w_shape,
                              const ConvGeom& g) {
  Array dw(w_shape);
  for (int64_t n = 0; n < x.shape[0]; ++n)
    for (int64_t ci = 0; ci < w_shape[0]; ++ci)
      for (int64_t co = 0; co < w_shape[1]; ++co)
        for_each_tap(x.shape, dy.shape, g, [&](auto id, auto ih, auto iw, auto kd, auto kh,
                                               auto kw, auto od, auto oh, auto ow) {
          dw(ci, co, kd, kh, kw) += x(n, ci, id, ih, iw) * dy(n, co, od, oh, ow);
        });
  return dw;
}

Array bias_grad(const Array& dy) {
  Array db(Shape{dy.shape[1]});
  for (int64_t n = 0; n < dy.shape[0]; ++n)
    for (int64_t c = 0; c < dy.shape[1]; ++c)
      for (int64_t d = 0; d < dy.shape[2]; ++d)
        for (int64_t h = 0; h < dy.shape[3]; ++h)
          for (int64_t w = 0; w < dy.shape[4]; ++w) db.v[c] += dy(n, c, d, h, w);
  return db;
}

}  // namespace useg::ref
