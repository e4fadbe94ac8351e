// ITK images on our Geometry (private to src/imaging): allocating an itk::Image laid out like a
// Geometry, and copying label / intensity planes between Tensors and ITK buffers.
#pragma once

#include <itkImage.h>

#include <cstdint>
#include <type_traits>

#include "useg/image.h"

namespace useg::imaging {

// Sets region, spacing, origin and direction of `image` from the first D axes of `g`.
template <typename Img>
void set_geometry(Img& image, const Geometry& g) {
  constexpr unsigned D = Img::ImageDimension;
  typename Img::RegionType region;
  typename Img::SpacingType spacing;
  typename Img::PointType origin;
  typename Img::DirectionType direction;
  for (unsigned i = 0; i < D; ++i) {
    region.SetSize(i, static_cast<itk::SizeValueType>(g.size[i]));
    spacing[i] = g.spacing[i];
    origin[i] = g.origin[i];
    for (unsigned j = 0; j < D; ++j) direction[i][j] = g.direction[3 * i + j];
  }
  image.SetRegions(region);
  image.SetSpacing(spacing);
  image.SetOrigin(origin);
  image.SetDirection(direction);
}

// A new image of pixel type T on `g`, filled with values converted from `src` (g.voxels()
// floats; rounded for integer types) or zero when `src` is null.
template <typename T, unsigned D>
typename itk::Image<T, D>::Pointer image_from(const Geometry& g, const float* src) {
  auto image = itk::Image<T, D>::New();
  set_geometry(*image, g);
  image->Allocate();
  T* dst = image->GetBufferPointer();
  const int64_t n = g.voxels();
  if (!src) {
    for (int64_t i = 0; i < n; ++i) dst[i] = T(0);
  } else if constexpr (std::is_integral_v<T>) {
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(src[i] + 0.5f);
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(src[i]);
  }
  return image;
}

// A float image on `g` sharing `data` (read-only use by filters).
template <unsigned D>
typename itk::Image<float, D>::Pointer float_view(const Geometry& g, const float* data) {
  auto image = itk::Image<float, D>::New();
  set_geometry(*image, g);
  image->GetPixelContainer()->SetImportPointer(const_cast<float*>(data),
                                               static_cast<itk::SizeValueType>(g.voxels()),
                                               false);
  return image;
}

}  // namespace useg::imaging
