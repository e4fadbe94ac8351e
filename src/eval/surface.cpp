// Mask surfaces and surface-to-surface distances. The distance maps themselves come from
// src/imaging (ITK); this file only crops, extracts surfaces and reads the maps at surface voxels.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "util/stats.h"
#include "useg/error.h"
#include "imaging/imaging.h"
#include "useg/metrics.h"

namespace useg {

namespace {

void check_grid(const Geometry& g, const char* what) {
  USEG_REQUIRE(g.dims == 2 || g.dims == 3, what << ": geometry has dims " << g.dims);
  for (int i = 0; i < 3; ++i)
    USEG_REQUIRE(g.size[i] >= 1, what << ": geometry has an empty axis: " << g.str());
  USEG_REQUIRE(g.dims == 3 || g.size[2] == 1,
               what << ": 2D geometry with " << g.size[2] << " slices");
}

struct Box {
  std::array<int64_t, 3> lo{0, 0, 0}, hi{-1, -1, -1};  // inclusive; empty when hi < lo
  bool empty() const { return hi[0] < lo[0]; }
};

Box union_box(const uint8_t* a, const uint8_t* b, const Geometry& g) {
  Box box;
  box.lo = {g.size[0], g.size[1], g.size[2]};
  int64_t i = 0;
  for (int64_t z = 0; z < g.size[2]; ++z)
    for (int64_t y = 0; y < g.size[1]; ++y)
      for (int64_t x = 0; x < g.size[0]; ++x, ++i) {
        if (!a[i] && !b[i]) continue;
        const int64_t c[3] = {x, y, z};
        for (int k = 0; k < 3; ++k) {
          box.lo[k] = std::min(box.lo[k], c[k]);
          box.hi[k] = std::max(box.hi[k], c[k]);
        }
      }
  if (box.hi[0] < 0) box = Box{};
  return box;
}

std::vector<uint8_t> crop(const uint8_t* m, const Geometry& g, const Box& box) {
  const int64_t nx = box.hi[0] - box.lo[0] + 1, ny = box.hi[1] - box.lo[1] + 1,
                nz = box.hi[2] - box.lo[2] + 1;
  std::vector<uint8_t> out(static_cast<size_t>(nx * ny * nz));
  for (int64_t z = 0; z < nz; ++z)
    for (int64_t y = 0; y < ny; ++y) {
      const uint8_t* src =
          m + ((box.lo[2] + z) * g.size[1] + box.lo[1] + y) * g.size[0] + box.lo[0];
      std::copy(src, src + nx, out.begin() + (z * ny + y) * nx);
    }
  return out;
}

}  // namespace

std::vector<uint8_t> surface_voxels(const uint8_t* mask, const Geometry& g) {
  check_grid(g, "surface");
  const int64_t nx = g.size[0], ny = g.size[1], nz = g.size[2];
  const bool three_d = g.dims == 3;
  std::vector<uint8_t> s(static_cast<size_t>(g.voxels()), 0);
  int64_t i = 0;
  for (int64_t z = 0; z < nz; ++z)
    for (int64_t y = 0; y < ny; ++y)
      for (int64_t x = 0; x < nx; ++x, ++i) {
        if (!mask[i]) continue;
        bool edge =
            x == 0 || x == nx - 1 || y == 0 || y == ny - 1 || (three_d && (z == 0 || z == nz - 1));
        edge = edge || !mask[i - 1] || !mask[i + 1] || !mask[i - nx] || !mask[i + nx];
        if (!edge && three_d) edge = !mask[i - nx * ny] || !mask[i + nx * ny];
        s[i] = edge ? 1 : 0;
      }
  return s;
}

SurfaceDistances surface_distances(const uint8_t* pred, const uint8_t* ref, const Geometry& g) {
  check_grid(g, "surface distances");
  // Distances between surface voxels do not depend on the grid beyond the masks, so the maps are
  // computed on the bounding box of both masks only (exact: outside it both masks are empty).
  const Box box = union_box(pred, ref, g);
  USEG_REQUIRE(!box.empty(), "surface distances: both masks are empty");
  Geometry gc = g;
  for (int k = 0; k < 3; ++k) gc.size[k] = box.hi[k] - box.lo[k] + 1;
  const std::vector<uint8_t> a = crop(pred, g, box), b = crop(ref, g, box);
  const std::vector<uint8_t> sa = surface_voxels(a.data(), gc), sb = surface_voxels(b.data(), gc);
  const bool a_any = std::find(sa.begin(), sa.end(), 1) != sa.end();
  const bool b_any = std::find(sb.begin(), sb.end(), 1) != sb.end();
  USEG_REQUIRE(a_any && b_any, "surface distances: the " << (a_any ? "reference" : "prediction")
                                                         << " mask is empty");
  SurfaceDistances d;
  {
    const std::vector<float> to_b = distance_to_mask(sb.data(), gc);
    for (size_t i = 0; i < sa.size(); ++i)
      if (sa[i]) d.pred_to_ref.push_back(to_b[i]);
  }
  {
    const std::vector<float> to_a = distance_to_mask(sa.data(), gc);
    for (size_t i = 0; i < sb.size(); ++i)
      if (sb[i]) d.ref_to_pred.push_back(to_a[i]);
  }
  return d;
}


}  // namespace useg
