#include "cuda/conv_naive.h"

namespace useg::test::naive {
namespace {

// Calls f(out_index, in_index, weight_index) for every term of a convolution with input
// [N,Ci,...] -> output [N,Co,...] and weight [Co, Ci, k]: input voxel = output voxel * stride
// - pad + kernel offset, when inside the input.
void for_each_term(const Shape& in, const Shape& out, const ConvGeom& g,
                   const std::function<void(int64_t, int64_t, int64_t)>& f) {
  const int64_t N = in.n(), Ci = in.c(), Co = out.c();
  const int64_t kd = g.kernel[0], kh = g.kernel[1], kw = g.kernel[2];
  for (int64_t n = 0; n < N; ++n)
    for (int64_t co = 0; co < Co; ++co)
      for (int64_t ci = 0; ci < Ci; ++ci)
        for (int64_t od = 0; od < out.d(); ++od)
          for (int64_t oh = 0; oh < out.h(); ++oh)
            for (int64_t ow = 0; ow < out.w(); ++ow)
              for (int64_t a = 0; a < kd; ++a)
                for (int64_t b = 0; b < kh; ++b)
                  for (int64_t c = 0; c < kw; ++c) {
                    const int64_t id = od * g.stride[0] - g.pad[0] + a;
                    const int64_t ih = oh * g.stride[1] - g.pad[1] + b;
                    const int64_t iw = ow * g.stride[2] - g.pad[2] + c;
                    if (id < 0 || id >= in.d() || ih < 0 || ih >= in.h() || iw < 0 ||
                        iw >= in.w())
                      continue;
                    const int64_t wi = (((co * Ci + ci) * kd + a) * kh + b) * kw + c;
                    f(ref::index5(out, n, co, od, oh, ow), ref::index5(in, n, ci, id, ih, iw), wi);
                  }
}

}  // namespace

// y[o] = sum x[i] w over the terms (input x, output y).
Vec conv_forward(const Vec& x, const Shape& xs, const Vec& w, const Shape& ws, const Shape& ys,
                 const ConvGeom& g) {
  Vec y(size_t(ys.numel()), 0.0);
  for_each_term(xs, ys, g, [&](int64_t o, int64_t i, int64_t k) { y[o] += x[i] * w[k]; });
  return y;
}
Vec conv_backward_data(const Vec& dy, const Shape& ys, const Vec& w, const Shape& ws,
                       const Shape& xs, const ConvGeom& g) {
  Vec dx(size_t(xs.numel()), 0.0);
  for_each_term(xs, ys, g, [&](int64_t o, int64_t i, int64_t k) { dx[i] += dy[o] * w[k]; });
  return dx;
}
Vec conv_backward_weights(const Vec& x, const Shape& xs, const Vec& dy, const Shape& ys,
                          const Shape& ws, const ConvGeom& g) {
  Vec dw(size_t(ws.numel()), 0.0);
  for_each_term(xs, ys, g, [&](int64_t o, int64_t i, int64_t k) { dw[k] += dy[o] * x[i]; });
  return dw;
}

// PyTorch's transposed convolution: y[n, co, i * s - p + k] += x[n, ci, i] * w[ci, co, k], i.e.
// the terms of a convolution from y's voxels (as input) to x's (as output) with w [Ci, Co, k]
// indexed [x channel, y channel].
Vec deconv_forward(const Vec& x, const Shape& xs, const Vec& w, const Shape& ws, const Shape& ys,
                   const ConvGeom& g) {
  Vec y(size_t(ys.numel()), 0.0);
  for_each_term(ys, xs, g, [&](int64_t o, int64_t i, int64_t k) { y[i] += x[o] * w[k]; });
  return y;
}
Vec deconv_backward_data(const Vec& dy, const Shape& ys, const Vec& w, const Shape& ws,
                         const Shape& xs, const ConvGeom& g) {
  Vec dx(size_t(xs.numel()), 0.0);
  for_each_term(ys, xs, g, [&](int64_t o, int64_t i, int64_t k) { dx[o] += dy[i] * w[k]; });
  return dx;
}
Vec deconv_backward_weights(const Vec& x, const Shape& xs, const Vec& dy, const Shape& ys,
                            const Shape& ws, const ConvGeom& g) {
  Vec dw(size_t(ws.numel()), 0.0);
  for_each_term(ys, xs, g, [&](int64_t o, int64_t i, int64_t k) { dw[k] += x[o] * dy[i]; });
  return dw;
}

void add_bias(Vec& y, const Shape& ys, const Vec& bias) {
  for (int64_t n = 0; n < ys.n(); ++n)
    for (int64_t c = 0; c < ys.c(); ++c)
      for (int64_t v = 0; v < ys.spatial(); ++v)
        y[size_t((n * ys.c() + c) * ys.spatial() + v)] += bias[size_t(c)];
}

Vec bias_gradient(const Vec& dy, const Shape& ys) {
  Vec db(size_t(ys.c()), 0.0);
  for (int64_t n = 0; n < ys.n(); ++n)
    for (int64_t c = 0; c < ys.c(); ++c)
      for (int64_t v = 0; v < ys.spatial(); ++v)
        db[size_t(c)] += dy[size_t((n * ys.c() + c) * ys.spatial() + v)];
  return db;
}

namespace {
// Input index of the first maximum of output voxel (n, c, od, oh, ow)'s window.
int64_t window_argmax(const Vec& x, const Shape& xs, const PoolGeom& g, int64_t n, int64_t c,
                      int64_t od, int64_t oh, int64_t ow) {
  int64_t best = -1;
  for (int64_t a = 0; a < g.kernel[0]; ++a)
    for (int64_t b = 0; b < g.kernel[1]; ++b)
      for (int64_t k = 0; k < g.kernel[2]; ++k) {
        const int64_t i = ref::index5(xs, n, c, od * g.stride[0] + a, oh * g.stride[1] + b,
                                      ow * g.stride[2] + k);
        if (best < 0 || x[size_t(i)] > x[size_t(best)]) best = i;
      }
  return best;
}
}  // namespace

Vec maxpool_forward(const Vec& x, const Shape& xs, const PoolGeom& g, const Shape& ys) {
  Vec y(size_t(ys.numel()));
  for (int64_t n = 0; n < ys.n(); ++n)
    for (int64_t c = 0; c < ys.c(); ++c)
      for (int64_t od = 0; od < ys.d(); ++od)
        for (int64_t oh = 0; oh < ys.h(); ++oh)
          for (int64_t ow = 0; ow < ys.w(); ++ow)
            y[size_t(ref::index5(ys, n, c, od, oh, ow))] =
                x[size_t(window_argmax(x, xs, g, n, c, od, oh, ow))];
  return y;
}

Vec maxpool_backward(const Vec& x, const Shape& xs, const Vec& dy, const Shape& ys,
                     const PoolGeom& g) {
  Vec dx(size_t(xs.numel()), 0.0);
  for (int64_t n = 0; n < ys.n(); ++n)
    for (int64_t c = 0; c < ys.c(); ++c)
      for (int64_t od = 0; od < ys.d(); ++od)
        for (int64_t oh = 0; oh < ys.h(); ++oh)
          for (int64_t ow = 0; ow < ys.w(); ++ow)
            dx[size_t(window_argmax(x, xs, g, n, c, od, oh, ow))] +=
                dy[size_t(ref::index5(ys, n, c, od, oh, ow))];
  return dx;
}

}  // namespace useg::test::naive
