// The three-class target of instance segmentation (background / interior / boundary) from an
// instance image. The neighbourhood is ITK's ellipsoid (FlatStructuringElement::Ball); the test
// "does a voxel of another value lie in it" is a plain loop over its offsets, stopping at the
// first differing voxel (ITK's grey dilation and erosion by the same ellipsoid give the same
// answer, dilation != id or erosion != id, about 20 times slower through its neighbourhood
// iterators: 1.2 s per megapixel at radius 2).
#include <itkFlatStructuringElement.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "useg/error.h"
#include "useg/labels.h"

namespace useg {

namespace {

struct Offset {
  int64_t dx, dy, dz, step;  // step = flat index difference
};

// The offsets of the ellipsoid with semi-axes `radius` (x, y, z voxels): sum (d_a / r_a)^2 <= 1,
// the centre excluded. Parametric radius: the semi-axes are exactly the radii, so radius 1 is
// the face neighbourhood.
template <unsigned D>
std::vector<Offset> ellipsoid(const std::array<int, 3>& radius, const Geometry& g) {
  using Kernel = itk::FlatStructuringElement<D>;
  typename Kernel::RadiusType r;
  for (unsigned a = 0; a < D; ++a) r[a] = static_cast<itk::SizeValueType>(radius[a]);
  const Kernel kernel = Kernel::Ball(r, /*radiusIsParametric=*/true);
  std::vector<Offset> out;
  for (size_t k = 0; k < kernel.Size(); ++k) {
    if (!kernel[k]) continue;
    const auto o = kernel.GetOffset(k);
    Offset d{o[0], o[1], 0, 0};
    if constexpr (D == 3) d.dz = o[2];
    if (d.dx == 0 && d.dy == 0 && d.dz == 0) continue;
    d.step = (d.dz * g.size[1] + d.dy) * g.size[0] + d.dx;
    out.push_back(d);
  }
  return out;
}

Tensor target_loop(const Tensor& ids, const Geometry& g, const std::vector<Offset>& offsets) {
  Tensor out = Tensor::zeros(ids.shape());
  const float* id = ids.data();
  float* o = out.data();
  const int64_t nx = g.size[0], ny = g.size[1], nz = g.dims == 3 ? g.size[2] : 1;
  for (int64_t z = 0; z < nz; ++z)
    for (int64_t y = 0; y < ny; ++y)
      for (int64_t x = 0; x < nx; ++x) {
        const int64_t i = (z * ny + y) * nx + x;
        const float v = id[i];
        if (v == 0.f) continue;
        float cls = 1.f;
        for (const Offset& d : offsets) {
          const int64_t xx = x + d.dx, yy = y + d.dy, zz = z + d.dz;
          if (xx < 0 || xx >= nx || yy < 0 || yy >= ny || zz < 0 || zz >= nz) continue;
          if (id[i + d.step] != v) {
            cls = 2.f;
            break;
          }
        }
        o[i] = cls;
      }
  return out;
}

}  // namespace

std::array<int, 3> boundary_radius(const Geometry& g, int boundary_width) {
  USEG_CHECK(boundary_width >= 1, "boundary width must be at least 1, got " << boundary_width);
  const int axes = g.dims == 2 ? 2 : 3;
  double finest = g.spacing[0];
  for (int a = 1; a < axes; ++a) finest = std::min(finest, g.spacing[a]);
  std::array<int, 3> r{0, 0, 0};
  for (int a = 0; a < axes; ++a) {
    USEG_CHECK(g.spacing[a] > 0, "boundary_radius: spacing " << g.spacing[a] << " along axis "
                                                             << a << " is not positive");
    r[a] = std::max(1, static_cast<int>(std::lround(boundary_width * finest / g.spacing[a])));
  }
  return r;
}

Tensor instance_boundary_target(const Tensor& ids, const Geometry& g, int boundary_width) {
  const Shape& s = ids.shape();
  USEG_CHECK(ids.defined() && ids.device() == Device::CPU && s.rank() == 5 && s[0] == 1 &&
                 s[1] == 1 && s[2] == g.size[2] && s[3] == g.size[1] && s[4] == g.size[0],
             "instance target: ids " << s.str() << " do not match " << g.str());
  USEG_CHECK(g.dims == 2 || g.dims == 3, "instance target: geometry has dims " << g.dims);
  const float* p = ids.data();
  for (int64_t i = 0; i < ids.numel(); ++i)
    USEG_CHECK(p[i] >= 0 && p[i] < 16777216.f && p[i] == std::floor(p[i]),
               "instance target: voxel " << i << " holds " << p[i]
                                         << ", not an object id (an integer 0 .. 2^24 - 1)");
  const std::array<int, 3> r = boundary_radius(g, boundary_width);
  try {
    return target_loop(ids, g, g.dims == 2 ? ellipsoid<2>(r, g) : ellipsoid<3>(r, g));
  } catch (const itk::ExceptionObject& e) {
    USEG_THROW("instance target failed: " << e.GetDescription());
  }
}

}  // namespace useg
