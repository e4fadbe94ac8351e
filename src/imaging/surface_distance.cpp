// Distance maps for the surface distances of `useg eval`: ITK's SignedMaurerDistanceMapImageFilter
// (exact Euclidean distance transform, linear time, spacing-aware) on a binary mask, with the
// inside (negative) values clamped to 0 so the result is the distance to the mask.
#include <itkImage.h>
#include <itkSignedMaurerDistanceMapImageFilter.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "useg/error.h"
#include "imaging/imaging.h"

namespace useg {

namespace {

template <unsigned D>
std::vector<float> maurer(const uint8_t* mask, const Geometry& g) {
  using Mask = itk::Image<uint8_t, D>;
  using Dist = itk::Image<float, D>;
  auto image = Mask::New();
  typename Mask::RegionType region;
  typename Mask::SpacingType spacing;
  for (unsigned i = 0; i < D; ++i) {
    region.SetSize(i, static_cast<itk::SizeValueType>(g.size[i]));
    spacing[i] = g.spacing[i];
  }
  image->SetRegions(region);
  image->SetSpacing(spacing);  // origin and direction do not change distances
  // Shares the caller's memory; the filter only reads its input.
  image->GetPixelContainer()->SetImportPointer(const_cast<uint8_t*>(mask),
                                               region.GetNumberOfPixels(), false);
  auto filter = itk::SignedMaurerDistanceMapImageFilter<Mask, Dist>::New();
  filter->SetInput(image);
  filter->SetBackgroundValue(0);
  filter->SetUseImageSpacing(true);
  filter->SetSquaredDistance(false);
  filter->SetInsideIsPositive(false);  // inside negative: clamped to 0 below
  filter->Update();
  const float* d = filter->GetOutput()->GetBufferPointer();
  std::vector<float> out(static_cast<size_t>(g.voxels()));
  for (size_t i = 0; i < out.size(); ++i) out[i] = std::max(d[i], 0.0f);
  return out;
}

}  // namespace

std::vector<float> distance_to_mask(const uint8_t* mask, const Geometry& g) {
  USEG_CHECK(g.dims == 2 || g.dims == 3, "distance map: geometry has dims " << g.dims);
  for (int i = 0; i < 3; ++i)
    USEG_CHECK(g.size[i] >= 1 && g.spacing[i] > 0 && std::isfinite(g.spacing[i]),
               "distance map: invalid geometry " << g.str());
  USEG_CHECK(g.dims == 3 || g.size[2] == 1,
             "distance map: 2D geometry with " << g.size[2] << " slices");
  const int64_t n = g.voxels();
  if (std::none_of(mask, mask + n, [](uint8_t v) { return v != 0; }))
    return std::vector<float>(static_cast<size_t>(n), std::numeric_limits<float>::infinity());
  try {
    return g.dims == 2 ? maurer<2>(mask, g) : maurer<3>(mask, g);
  } catch (const itk::ExceptionObject& e) {
    USEG_THROW("distance map on " << g.str() << " failed: " << e.GetDescription());
  }
}

}  // namespace useg
