// Helpers of the eval tests: label maps drawn from shapes, random ellipsoid "blobs", and a naive
// surface-distance reference written independently of src/eval (pairwise loops, no distance
// maps) for the small images of the tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include "useg/image.h"
#include "useg/tensor.h"

namespace useg::test {

inline Geometry grid(int dims, std::array<int64_t, 3> size, std::array<double, 3> spacing) {
  Geometry g;
  g.dims = dims;
  g.size = size;
  g.spacing = spacing;
  return g;
}

// Label map [1, 1, D, H, W] with f(x, y, z) at every voxel.
inline Tensor label_map(const Geometry& g, const std::function<int(int64_t, int64_t, int64_t)>& f) {
  Tensor t = Tensor::empty(Shape::ncdhw(1, 1, g.size[2], g.size[1], g.size[0]));
  for (int64_t z = 0; z < g.size[2]; ++z)
    for (int64_t y = 0; y < g.size[1]; ++y)
      for (int64_t x = 0; x < g.size[0]; ++x) t.at(0, 0, z, y, x) = static_cast<float>(f(x, y, z));
  return t;
}

// Box [x0, x0 + w) x [y0, y0 + h) x [z0, z0 + d) set to `value` in a label map.
inline void fill_box(Tensor& t, int64_t x0, int64_t y0, int64_t z0, int64_t w, int64_t h, int64_t d,
                     int value) {
  for (int64_t z = z0; z < z0 + d; ++z)
    for (int64_t y = y0; y < y0 + h; ++y)
      for (int64_t x = x0; x < x0 + w; ++x) t.at(0, 0, z, y, x) = static_cast<float>(value);
}

inline std::vector<uint8_t> mask_of(const Tensor& labels, int label) {
  std::vector<uint8_t> m(static_cast<size_t>(labels.numel()));
  for (int64_t i = 0; i < labels.numel(); ++i) m[i] = std::lround(labels.data()[i]) == label;
  return m;
}

struct Ellipsoid {
  double c[3], r[3];  // centre and radii in voxels
  int label;
};

inline bool inside(const Ellipsoid& e, int64_t x, int64_t y, int64_t z, int dims) {
  const double p[3] = {double(x), double(y), double(z)};
  double s = 0;
  for (int k = 0; k < dims; ++k) s += (p[k] - e.c[k]) * (p[k] - e.c[k]) / (e.r[k] * e.r[k]);
  return s <= 1.0;
}

inline Tensor draw(const Geometry& g, const std::vector<Ellipsoid>& es) {
  return label_map(g, [&](int64_t x, int64_t y, int64_t z) {
    int v = 0;
    for (const Ellipsoid& e : es)
      if (inside(e, x, y, z, g.dims)) v = e.label;  // later ellipsoids paint over earlier ones
    return v;
  });
}

// A reference of random ellipsoids with labels 1..num_labels and a prediction made of the same
// ellipsoids moved and resized a little, plus one spurious small blob.
inline void random_blob_pair(const Geometry& g, uint32_t seed, int num_labels, Tensor& pred,
                             Tensor& ref) {
  std::mt19937 rng(seed);
  auto uni = [&rng](double a, double b) {
    return std::uniform_real_distribution<double>(a, b)(rng);
  };
  std::vector<Ellipsoid> r, p;
  for (int label = 1; label <= num_labels; ++label)
    for (int k = 0; k < 3; ++k) {
      Ellipsoid e{};
      e.label = label;
      for (int a = 0; a < 3; ++a) {
        const double n = static_cast<double>(g.size[a]);
        e.r[a] = a < g.dims ? uni(0.12, 0.28) * n : 1.0;
        e.c[a] = a < g.dims ? uni(0.25, 0.75) * n : 0.0;
      }
      r.push_back(e);
      Ellipsoid f = e;
      for (int a = 0; a < g.dims; ++a) {
        f.c[a] += uni(-2.5, 2.5);
        f.r[a] *= uni(0.8, 1.2);
      }
      p.push_back(f);
    }
  Ellipsoid extra{};
  extra.label = 1 + static_cast<int>(rng() % num_labels);
  for (int a = 0; a < 3; ++a) {
    extra.r[a] = a < g.dims ? 2.0 : 1.0;
    extra.c[a] = a < g.dims ? uni(0.1, 0.9) * static_cast<double>(g.size[a]) : 0.0;
  }
  p.push_back(extra);
  ref = draw(g, r);
  pred = draw(g, p);
}

// Naive surface: mask voxels with a face neighbour outside the mask or outside the image.
inline std::vector<uint8_t> naive_surface(const std::vector<uint8_t>& m, const Geometry& g) {
  std::vector<uint8_t> s(m.size(), 0);
  auto at = [&](int64_t x, int64_t y, int64_t z) -> bool {
    if (x < 0 || y < 0 || z < 0 || x >= g.size[0] || y >= g.size[1] || z >= g.size[2]) return false;
    return m[(z * g.size[1] + y) * g.size[0] + x] != 0;
  };
  for (int64_t z = 0; z < g.size[2]; ++z)
    for (int64_t y = 0; y < g.size[1]; ++y)
      for (int64_t x = 0; x < g.size[0]; ++x) {
        if (!at(x, y, z)) continue;
        bool out = !at(x - 1, y, z) || !at(x + 1, y, z) || !at(x, y - 1, z) || !at(x, y + 1, z);
        if (g.dims == 3) out = out || !at(x, y, z - 1) || !at(x, y, z + 1);
        s[(z * g.size[1] + y) * g.size[0] + x] = out;
      }
  return s;
}

// For every surface voxel of `a`, the distance (mm) to the nearest surface voxel of `b`.
inline std::vector<double> naive_directed(const std::vector<uint8_t>& a,
                                          const std::vector<uint8_t>& b, const Geometry& g) {
  const std::vector<uint8_t> sa = naive_surface(a, g), sb = naive_surface(b, g);
  std::vector<std::array<double, 3>> pb;
  auto pos = [&g](int64_t i) {
    const int64_t x = i % g.size[0], y = (i / g.size[0]) % g.size[1],
                  z = i / (g.size[0] * g.size[1]);
    return std::array<double, 3>{x * g.spacing[0], y * g.spacing[1], z * g.spacing[2]};
  };
  for (size_t i = 0; i < sb.size(); ++i)
    if (sb[i]) pb.push_back(pos(static_cast<int64_t>(i)));
  std::vector<double> out;
  for (size_t i = 0; i < sa.size(); ++i) {
    if (!sa[i]) continue;
    const auto p = pos(static_cast<int64_t>(i));
    double best = std::numeric_limits<double>::infinity();
    for (const auto& q : pb) {
      const double d2 = (p[0] - q[0]) * (p[0] - q[0]) + (p[1] - q[1]) * (p[1] - q[1]) +
                        (p[2] - q[2]) * (p[2] - q[2]);
      best = std::min(best, d2);
    }
    out.push_back(std::sqrt(best));
  }
  return out;
}

}  // namespace useg::test
