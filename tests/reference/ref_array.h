// Array: the working type of the naive references — a dense row-major array of doubles with a
// useg Shape. References compute in double so they are exact enough to judge float results and
// to take finite differences on. Nothing here depends on src/.
#pragma once

#include <cstdint>
#include <vector>

#include "useg/tensor.h"

namespace useg::ref {

struct Array {
  Shape shape;
  std::vector<double> v;

  Array() = default;
  explicit Array(const Shape& s) : shape(s), v(static_cast<size_t>(s.numel()), 0.0) {}

  static Array from(const Tensor& t) {
    Array a(t.shape());
    std::vector<float> f = t.to_vector();
    for (size_t i = 0; i < f.size(); ++i) a.v[i] = f[i];
    return a;
  }
  Tensor to_tensor() const {  // a CPU float tensor
    Tensor t = Tensor::empty(shape);
    for (size_t i = 0; i < v.size(); ++i) t.data()[i] = static_cast<float>(v[i]);
    return t;
  }

  // Element of a rank-5 array.
  double& operator()(int64_t a, int64_t b, int64_t c, int64_t d, int64_t e) {
    return v[static_cast<size_t>(index(a, b, c, d, e))];
  }
  double operator()(int64_t a, int64_t b, int64_t c, int64_t d, int64_t e) const {
    return v[static_cast<size_t>(index(a, b, c, d, e))];
  }

 private:
  int64_t index(int64_t a, int64_t b, int64_t c, int64_t d, int64_t e) const {
    return (((a * shape[1] + b) * shape[2] + c) * shape[3] + d) * shape[4] + e;
  }
};

}  // namespace useg::ref
