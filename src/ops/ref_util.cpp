// References for activations, softmax, argmax, channel concatenation and window accumulation.
#include <cmath>

#include "ops/ref_util.h"

namespace useg::ref {

Vec to_vec(const Tensor& t) {
  std::vector<float> f = t.to_vector();
  return Vec(f.begin(), f.end());
}

Tensor to_tensor(const Vec& v, const Shape& s) {
  Tensor t = Tensor::empty(s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<float>(v[i]);
  return t;
}

int64_t index5(const Shape& s, int64_t n, int64_t c, int64_t d, int64_t h, int64_t w) {
  return (((n * s[1] + c) * s[2] + d) * s[3] + h) * s[4] + w;
}

Vec numeric_gradient(const std::function<double(const Vec&)>& f, const Vec& x, double h) {
  Vec g(x.size());
  Vec xp = x;
  for (size_t i = 0; i < x.size(); ++i) {
    xp[i] = x[i] + h;
    const double up = f(xp);
    xp[i] = x[i] - h;
    const double down = f(xp);
    xp[i] = x[i];
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

double activation(Activation a, double alpha, double x) {
  switch (a) {
    case Activation::Identity: return x;
    case Activation::ReLU: return x > 0 ? x : 0;
    case Activation::LeakyReLU: return x > 0 ? x : alpha * x;
    case Activation::Sigmoid: return 1 / (1 + std::exp(-x));
    case Activation::Tanh: return std::tanh(x);
  }
  return 0;
}

double activation_derivative(Activation a, double alpha, double x) {
  switch (a) {
    case Activation::Identity: return 1;
    case Activation::ReLU: return x > 0 ? 1 : 0;
    case Activation::LeakyReLU: return x > 0 ? 1 : alpha;
    case Activation::Sigmoid: {
      const double s = 1 / (1 + std::exp(-x));
      return s * (1 - s);
    }
    case Activation::Tanh: return 1 - std::tanh(x) * std::tanh(x);
  }
  return 0;
}

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

Vec argmax_channels(const Vec& x, const Shape& s) {
  Shape ls{s[0], 1, s[2], s[3], s[4]};
  Vec y(ls.numel());
  for (int64_t n = 0; n < s[0]; ++n)
    for (int64_t d = 0; d < s[2]; ++d)
      for (int64_t h = 0; h < s[3]; ++h)
        for (int64_t w = 0; w < s[4]; ++w) {
          int64_t best = 0;
          for (int64_t c = 1; c < s[1]; ++c)
            if (x[index5(s, n, c, d, h, w)] > x[index5(s, n, best, d, h, w)]) best = c;
          y[index5(ls, n, 0, d, h, w)] = static_cast<double>(best);
        }
  return y;
}

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

void window_accumulate(const Vec& probs, const Shape& ps, int64_t n, const Vec& weight,
                       const std::array<int64_t, 3>& offset, Vec& accum, const Shape& as,
                       Vec& weight_sum) {
  Shape ws{1, 1, ps[2], ps[3], ps[4]};
  Shape ss{1, 1, as[2], as[3], as[4]};
  for (int64_t i = 0; i < ps[2]; ++i)
    for (int64_t j = 0; j < ps[3]; ++j)
      for (int64_t k = 0; k < ps[4]; ++k) {
        const int64_t z = offset[0] + i, y = offset[1] + j, x = offset[2] + k;
        if (z < 0 || y < 0 || x < 0 || z >= as[2] || y >= as[3] || x >= as[4]) continue;
        const double w = weight[index5(ws, 0, 0, i, j, k)];
        for (int64_t c = 0; c < ps[1]; ++c)
          accum[index5(as, 0, c, z, y, x)] += w * probs[index5(ps, n, c, i, j, k)];
        weight_sum[index5(ss, 0, 0, z, y, x)] += w;
      }
}

}  // namespace useg::ref
