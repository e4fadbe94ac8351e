// The three-class target of instance segmentation (background / interior / boundary) from an
// instance image, with ITK's grey dilation and erosion by an ellipsoid: a voxel of an object
// whose neighbourhood holds a larger id has a dilation above its own id, one whose
// neighbourhood holds a smaller id (background included) an erosion below it.
#include <itkFlatStructuringElement.h>
#include <itkGrayscaleDilateImageFilter.h>
#include <itkGrayscaleErodeImageFilter.h>

#include <algorithm>
#include <cmath>

#include "imaging/itk_image.h"
#include "useg/error.h"
#include "useg/labels.h"

namespace useg {

namespace {

template <unsigned D>
Tensor target_d(const Tensor& ids, const Geometry& g, const std::array<int, 3>& radius) {
  using Lab = itk::Image<uint32_t, D>;
  using Kernel = itk::FlatStructuringElement<D>;
  auto image = imaging::image_from<uint32_t, D>(g, ids.data());
  typename Kernel::RadiusType r;
  for (unsigned a = 0; a < D; ++a) r[a] = static_cast<itk::SizeValueType>(radius[a]);
  // Parametric: the ellipsoid's semi-axes are exactly the radii (offsets d with
  // sum (d_a / r_a)^2 <= 1), so radius 1 is the face neighbourhood.
  Kernel kernel = Kernel::Ball(r, /*radiusIsParametric=*/true);
  auto dilate = itk::GrayscaleDilateImageFilter<Lab, Lab, Kernel>::New();
  dilate->SetInput(image);
  dilate->SetKernel(kernel);
  auto erode = itk::GrayscaleErodeImageFilter<Lab, Lab, Kernel>::New();
  erode->SetInput(image);
  erode->SetKernel(kernel);
  dilate->Update();
  erode->Update();
  const uint32_t* id = image->GetBufferPointer();
  const uint32_t* hi = dilate->GetOutput()->GetBufferPointer();
  const uint32_t* lo = erode->GetOutput()->GetBufferPointer();
  Tensor out = Tensor::zeros(ids.shape());
  float* o = out.data();
  const int64_t n = g.voxels();
  for (int64_t i = 0; i < n; ++i)
    if (id[i]) o[i] = (hi[i] != id[i] || lo[i] != id[i]) ? 2.f : 1.f;
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
    return g.dims == 2 ? target_d<2>(ids, g, r) : target_d<3>(ids, g, r);
  } catch (const itk::ExceptionObject& e) {
    USEG_THROW("instance target failed: " << e.GetDescription());
  }
}

}  // namespace useg
