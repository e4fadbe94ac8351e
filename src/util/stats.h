// Order statistics shared by preprocessing (percentile normalization, CT clipping), planning,
// previews and the surface metrics: one definition.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

namespace useg {

// The q-th percentile (q in [0, 100], clamped) with linear interpolation between order
// statistics, numpy's default; NaN for an empty set.
template <class T>
double percentile_of(std::vector<T> v, double q) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  q = std::clamp(q, 0.0, 100.0);
  const double pos = q / 100.0 * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(lo), v.end());
  const double a = static_cast<double>(v[lo]);
  if (lo + 1 >= v.size()) return a;
  const double b = static_cast<double>(
      *std::min_element(v.begin() + static_cast<std::ptrdiff_t>(lo) + 1, v.end()));
  return a + (pos - static_cast<double>(lo)) * (b - a);
}

inline double percentile(std::vector<double> v, double q) { return percentile_of(std::move(v), q); }
inline double percentile(std::vector<float> v, double q) { return percentile_of(std::move(v), q); }

}  // namespace useg
