// What the naive references share (compiled into the tests only, like every src/ops/<op>/ref*):
// the working types — flat NCDHW vectors of doubles, and Array, such a vector with its shape —
// conversions from and to tensors, and central differences. References compute in double so
// they are exact enough to judge float results and to take finite differences on. Each op's
// reference is written from the textbook / PyTorch definition and shares no code with the op's
// math (src/ops/<op>/<op>.h): a bug there cannot hide in here.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "useg/tensor.h"

namespace useg::ref {

using Vec = std::vector<double>;

Vec to_vec(const Tensor& t);                     // any device -> host doubles
Tensor to_tensor(const Vec& v, const Shape& s);  // host float tensor
// Flat index of element (n, c, d, h, w) of a rank-5 shape.
inline int64_t index5(const Shape& s, int64_t n, int64_t c, int64_t d, int64_t h, int64_t w) {
  return (((n * s[1] + c) * s[2] + d) * s[3] + h) * s[4] + w;
}

// Central differences of f at x, one element at a time: (f(x + h e_i) - f(x - h e_i)) / 2h.
Vec numeric_gradient(const std::function<double(const Vec&)>& f, const Vec& x, double h);
// sum_i a[i] * b[i]: the scalar loss sum(y * r), whose gradient with respect to y is r.
double dot(const Vec& a, const Vec& b);

// A dense row-major array of doubles with a useg Shape.
struct Array {
  Shape shape;
  Vec v;

  Array() = default;
  explicit Array(const Shape& s) : shape(s), v(static_cast<size_t>(s.numel()), 0.0) {}
  Array(const Shape& s, Vec values) : shape(s), v(std::move(values)) {}

  static Array from(const Tensor& t) { return Array(t.shape(), to_vec(t)); }
  Tensor to_tensor() const { return ref::to_tensor(v, shape); }  // a CPU float tensor

  // Element of a rank-5 array.
  double& operator()(int64_t a, int64_t b, int64_t c, int64_t d, int64_t e) {
    return v[static_cast<size_t>(index5(shape, a, b, c, d, e))];
  }
  double operator()(int64_t a, int64_t b, int64_t c, int64_t d, int64_t e) const {
    return v[static_cast<size_t>(index5(shape, a, b, c, d, e))];
  }
};

}  // namespace useg::ref
