// Shared helpers for the image I/O and imaging tests: scratch folders, oblique geometries and
// small integer-valued volumes.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "useg/image.h"
#include "useg/tensor.h"

namespace useg::test {

// A fresh, empty folder under the temp directory (ctest points TMPDIR into the build folder),
// named after the test and this process: ctest runs tests in parallel processes, and two of
// them asking for the same name must not share (or delete) each other's files. The folders
// are removed when the process exits, unless USEG_KEEP_TEST_DIRS is set (to look at them).
inline std::filesystem::path fresh_dir(const std::string& name) {
  namespace fs = std::filesystem;
  struct Cleanup {
    std::vector<fs::path> dirs;
    ~Cleanup() {
      if (std::getenv("USEG_KEEP_TEST_DIRS")) return;
      std::error_code ec;
      for (const fs::path& d : dirs) fs::remove_all(d, ec);
    }
  };
  static Cleanup cleanup;
  fs::path d = fs::temp_directory_path() /
               ("useg_test_" + name + "_" + std::to_string(static_cast<long>(::getpid())));
  fs::remove_all(d);
  fs::create_directories(d);
  if (std::find(cleanup.dirs.begin(), cleanup.dirs.end(), d) == cleanup.dirs.end())
    cleanup.dirs.push_back(d);
  return d;
}

// Row-major rotation: 30 degrees about z, then 10 degrees about x (R = Rx(10) * Rz(30)).
inline std::array<double, 9> oblique_direction() {
  const double pi = 3.14159265358979323846;
  double a = 30 * pi / 180, b = 10 * pi / 180;
  double rz[9] = {std::cos(a), -std::sin(a), 0, std::sin(a), std::cos(a), 0, 0, 0, 1};
  double rx[9] = {1, 0, 0, 0, std::cos(b), -std::sin(b), 0, std::sin(b), std::cos(b)};
  std::array<double, 9> r{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 3; ++k) r[3 * i + j] += rx[3 * i + k] * rz[3 * k + j];
  return r;
}

// 3D: size 7x5x4, anisotropic spacing, non-zero origin, oblique direction.
inline Geometry oblique_geometry_3d() {
  Geometry g;
  g.dims = 3;
  g.size = {7, 5, 4};
  g.spacing = {0.7, 1.3, 2.5};
  g.origin = {-12.5, 33.25, 101.75};
  g.direction = oblique_direction();
  return g;
}

// 2D: size 9x6, anisotropic spacing, non-zero origin, rotated 30 degrees in plane.
inline Geometry oblique_geometry_2d() {
  const double a = 30 * 3.14159265358979323846 / 180;
  Geometry g;
  g.dims = 2;
  g.size = {9, 6, 1};
  g.spacing = {0.4, 0.9, 1};
  g.origin = {-5.5, 12.25, 0};
  g.direction = {std::cos(a), -std::sin(a), 0, std::sin(a), std::cos(a), 0, 0, 0, 1};
  return g;
}

// Integer voxels f(x, y, z) = x + 10 y + 50 z + offset, one channel, laid out for `g`.
inline Tensor integer_volume(const Geometry& g, float offset = -20.0f) {
  Tensor t = Tensor::empty(Shape::ncdhw(1, 1, g.size[2], g.size[1], g.size[0]));
  for (int64_t z = 0; z < g.size[2]; ++z)
    for (int64_t y = 0; y < g.size[1]; ++y)
      for (int64_t x = 0; x < g.size[0]; ++x)
        t.at(0, 0, z, y, x) = static_cast<float>(x + 10 * y + 50 * z) + offset;
  return t;
}

}  // namespace useg::test
