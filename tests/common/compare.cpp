#include "common/compare.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace useg::test {

namespace {
std::string index_str(int64_t i, const Shape& s) {
  if (s.rank() == 0) return std::to_string(i);
  std::vector<int64_t> idx(s.rank());
  for (int d = s.rank() - 1; d >= 0; --d) {
    idx[d] = s[d] ? i % s[d] : 0;
    i = s[d] ? i / s[d] : 0;
  }
  std::ostringstream os;
  os << "[";
  for (size_t d = 0; d < idx.size(); ++d) os << (d ? "," : "") << idx[d];
  os << "]";
  return os.str();
}

template <class T>
::testing::AssertionResult allclose_values(const T* a, const T* b, int64_t n, const Shape& shape,
                                           Tolerance tol) {
  double max_abs = 0, max_rel = 0;
  int64_t bad = 0;
  std::ostringstream first;
  for (int64_t i = 0; i < n; ++i) {
    double x = a[i], y = b[i];
    bool both_nan = std::isnan(x) && std::isnan(y);
    double diff = std::fabs(x - y);
    bool ok = both_nan || (diff <= tol.abs + tol.rel * std::fabs(y));
    if (!both_nan && !std::isnan(diff)) {
      max_abs = std::max(max_abs, diff);
      if (std::fabs(y) > 0) max_rel = std::max(max_rel, diff / std::fabs(y));
    }
    if (!ok) {
      if (bad < 5)
        first << "\n  at " << index_str(i, shape) << ": actual " << x << ", expected " << y
              << " (diff " << diff << ")";
      ++bad;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << bad << " of " << n << " elements differ (tolerance abs " << tol.abs << ", rel "
         << tol.rel << "; max abs error " << max_abs << ", max rel error " << max_rel << ")"
         << first.str();
}

}  // namespace

::testing::AssertionResult allclose(const float* a, const float* b, int64_t n,
                                    const Shape& shape, Tolerance tol) {
  return allclose_values(a, b, n, shape, tol);
}

::testing::AssertionResult allclose(const std::vector<double>& actual,
                                    const std::vector<double>& expected, const Shape& shape,
                                    Tolerance tol) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << "size mismatch: actual " << actual.size()
                                         << ", expected " << expected.size();
  return allclose_values(actual.data(), expected.data(), static_cast<int64_t>(actual.size()),
                         shape, tol);
}

::testing::AssertionResult allclose(const Tensor& actual, const Tensor& expected,
                                    Tolerance tol) {
  if (actual.numel() != expected.numel())
    return ::testing::AssertionFailure() << "shape mismatch: actual " << actual.shape().str()
                                         << ", expected " << expected.shape().str();
  std::vector<float> a = actual.to_vector(), b = expected.to_vector();
  return allclose(a.data(), b.data(), static_cast<int64_t>(a.size()), expected.shape(), tol);
}

::testing::AssertionResult allclose(const std::vector<float>& actual,
                                    const std::vector<float>& expected, Tolerance tol) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << "size mismatch: actual " << actual.size()
                                         << ", expected " << expected.size();
  return allclose(actual.data(), expected.data(), static_cast<int64_t>(actual.size()),
                  Shape{static_cast<int64_t>(actual.size())}, tol);
}

double max_rel_error(const Tensor& actual, const Tensor& expected) {
  std::vector<float> a = actual.to_vector(), b = expected.to_vector();
  double scale = 0, err = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    scale = std::max(scale, std::fabs(double(b[i])));
    err = std::max(err, std::fabs(double(a[i]) - double(b[i])));
  }
  return scale > 0 ? err / scale : err;
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (float v : t.to_vector()) m = std::max(m, std::fabs(double(v)));
  return m;
}

}  // namespace useg::test
