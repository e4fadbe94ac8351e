// Resampling through ITK's ResampleImageFilter (identity transform, linear or nearest-neighbour
// interpolation, nearest-edge extrapolation), one channel at a time.
#include <itkIdentityTransform.h>
#include <itkImage.h>
#include <itkLinearInterpolateImageFunction.h>
#include <itkNearestNeighborExtrapolateImageFunction.h>
#include <itkNearestNeighborInterpolateImageFunction.h>
#include <itkResampleImageFilter.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "imaging/itk_image.h"
#include "useg/error.h"
#include "imaging/imaging.h"

namespace useg {

namespace {

template <unsigned D>
void resample_channel(const float* src, const Geometry& from, float* dst, const Geometry& to,
                      Interp interp) {
  using Img = itk::Image<float, D>;
  auto filter = itk::ResampleImageFilter<Img, Img, double, double>::New();
  filter->SetInput(imaging::float_view<D>(from, src));
  filter->SetTransform(itk::IdentityTransform<double, D>::New());
  if (interp == Interp::Linear)
    filter->SetInterpolator(itk::LinearInterpolateImageFunction<Img, double>::New());
  else
    filter->SetInterpolator(itk::NearestNeighborInterpolateImageFunction<Img, double>::New());
  filter->SetExtrapolator(itk::NearestNeighborExtrapolateImageFunction<Img, double>::New());
  filter->SetDefaultPixelValue(0.0f);
  auto grid = Img::New();  // the output grid only: never allocated
  imaging::set_geometry(*grid, to);
  filter->SetOutputParametersFromImage(grid);
  filter->Update();
  std::memcpy(dst, filter->GetOutput()->GetBufferPointer(), sizeof(float) * to.voxels());
}

void check_geometry(const Geometry& g, const char* which) {
  USEG_CHECK(g.dims == 2 || g.dims == 3, which << " geometry has dims " << g.dims);
  for (int i = 0; i < 3; ++i) {
    USEG_CHECK(g.size[i] >= 1, which << " geometry has an empty axis: " << g.str());
    USEG_CHECK(g.spacing[i] > 0 && std::isfinite(g.spacing[i]),
               which << " geometry has a non-positive spacing: " << g.str());
  }
  USEG_CHECK(g.dims == 3 || g.size[2] == 1, which << " 2D geometry with " << g.size[2]
                                                  << " slices: " << g.str());
}

}  // namespace

const char* interp_name(Interp interp) {
  return interp == Interp::Linear ? "linear" : "nearest";
}

Tensor resample_to_geometry(const Tensor& channels, const Geometry& from, const Geometry& to,
                            Interp interp) {
  check_geometry(from, "source");
  check_geometry(to, "target");
  USEG_CHECK(from.dims == to.dims, "cannot resample a " << from.dims << "D image onto a "
                                                        << to.dims << "D geometry");
  const Shape& s = channels.shape();
  USEG_CHECK(channels.defined() && channels.device() == Device::CPU && s.rank() == 5 &&
                 s[0] == 1 && s[2] == from.size[2] && s[3] == from.size[1] &&
                 s[4] == from.size[0],
             "resample input " << s.str() << " does not match its geometry (" << from.str()
                               << "); expected a CPU tensor [1, C, D, H, W]");
  const int64_t c = s[1];
  Tensor out = Tensor::empty(Shape::ncdhw(1, c, to.size[2], to.size[1], to.size[0]));
  try {
    for (int64_t k = 0; k < c; ++k) {
      const float* src = channels.data() + k * from.voxels();
      float* dst = out.data() + k * to.voxels();
      if (from.dims == 2)
        resample_channel<2>(src, from, dst, to, interp);
      else
        resample_channel<3>(src, from, dst, to, interp);
    }
  } catch (const itk::ExceptionObject& e) {
    USEG_THROW("resampling from " << from.str() << " to " << to.str()
                                  << " failed: " << e.GetDescription());
  }
  return out;
}

Geometry spacing_grid(const Geometry& g, const std::array<double, 3>& spacing) {
  Geometry out = g;
  for (int i = 0; i < g.dims; ++i) {
    USEG_CHECK(spacing[i] > 0 && std::isfinite(spacing[i]),
               "resample spacing must be positive, got " << spacing[i] << " on axis " << i);
    double n = std::round(static_cast<double>(g.size[i]) * g.spacing[i] / spacing[i]);
    USEG_CHECK(n < 9.0e15, "resampling " << g.str() << " to spacing " << spacing[i]
                                         << " on axis " << i << " gives an absurd size");
    out.size[i] = std::max<int64_t>(1, static_cast<int64_t>(n));
    out.spacing[i] = spacing[i];
  }
  return out;
}

Geometry size_grid(const Geometry& g, const std::array<int64_t, 3>& size) {
  Geometry out = g;
  std::array<double, 3> shift{0, 0, 0};  // index-space shift of the first centre, in mm
  for (int i = 0; i < g.dims; ++i) {
    USEG_CHECK(size[i] >= 1, "resize to " << size[i] << " voxels on axis " << i);
    out.size[i] = size[i];
    out.spacing[i] = g.spacing[i] * double(g.size[i]) / double(size[i]);
    shift[i] = 0.5 * (out.spacing[i] - g.spacing[i]);
  }
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) out.origin[r] += g.direction[r * 3 + c] * shift[c];
  return out;
}

Image resample_to_spacing(const Image& image, const std::array<double, 3>& spacing,
                          Interp interp) {
  Image result;
  result.geometry = spacing_grid(image.geometry, spacing);
  result.source = image.source;
  result.voxels = resample_to_geometry(image.voxels, image.geometry, result.geometry, interp);
  return result;
}

}  // namespace useg
