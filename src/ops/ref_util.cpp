// The naive references' shared helpers (ref_util.h).
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

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) s += a[i] * b[i];
  return s;
}

}  // namespace useg::ref
