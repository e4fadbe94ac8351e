// Objects from the three classes of an instance model (background / interior / boundary):
// interior components seed a watershed that floods the foreground (ITK filters throughout; the
// steps are listed in useg/labels.h, the reasons in docs/segment.md).
#include <itkConnectedComponentImageFilter.h>
#include <itkHMaximaImageFilter.h>
#include <itkMorphologicalWatershedFromMarkersImageFilter.h>
#include <itkRegionalMaximaImageFilter.h>
#include <itkRelabelComponentImageFilter.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "imaging/itk_image.h"
#include "useg/error.h"
#include "imaging/imaging.h"
#include "useg/labels.h"

namespace useg {

uint64_t voxels_of_size(double size, const Geometry& g) {
  if (!(size > 0)) return 0;
  return static_cast<uint64_t>(std::ceil(size / g.voxel_volume() * (1 - 1e-9)));
}

namespace {

template <unsigned D>
typename itk::Image<uint32_t, D>::Pointer components(typename itk::Image<uint8_t, D>::Pointer m,
                                                     uint64_t min_voxels) {
  using Mask = itk::Image<uint8_t, D>;
  using Lab = itk::Image<uint32_t, D>;
  auto cc = itk::ConnectedComponentImageFilter<Mask, Lab>::New();
  cc->SetInput(m);
  cc->SetFullyConnected(false);
  auto relabel = itk::RelabelComponentImageFilter<Lab, Lab>::New();
  relabel->SetInput(cc->GetOutput());
  relabel->SetSortByObjectSize(false);  // raster order of the first voxel
  relabel->SetMinimumObjectSize(min_voxels);
  relabel->Update();
  return relabel->GetOutput();
}

// Background components of `mask` that do not touch the image border become foreground (1).
template <unsigned D>
void fill_enclosed(typename itk::Image<uint8_t, D>::Pointer mask, const Geometry& g) {
  auto background = imaging::image_from<uint8_t, D>(g, nullptr);
  uint8_t* b = background->GetBufferPointer();
  uint8_t* m = mask->GetBufferPointer();
  const int64_t n = g.voxels();
  for (int64_t i = 0; i < n; ++i) b[i] = m[i] ? 0 : 1;
  auto parts = components<D>(background, 0);
  const uint32_t* c = parts->GetBufferPointer();
  uint32_t count = 0;
  for (int64_t i = 0; i < n; ++i) count = std::max(count, c[i]);
  std::vector<uint8_t> open(static_cast<size_t>(count) + 1, 0);  // touches the border
  const int64_t nx = g.size[0], ny = g.size[1], nz = D == 3 ? g.size[2] : 1;
  for (int64_t z = 0; z < nz; ++z)
    for (int64_t y = 0; y < ny; ++y)
      for (int64_t x = 0; x < nx; ++x) {
        const bool border = x == 0 || x == nx - 1 || y == 0 || y == ny - 1 ||
                            (D == 3 && (z == 0 || z == nz - 1));
        if (border) open[c[(z * ny + y) * nx + x]] = 1;
      }
  for (int64_t i = 0; i < n; ++i)
    if (c[i] && !open[c[i]]) m[i] = 1;
}

// Seeds split by shape: the distance (mm, image spacing) from every seed voxel to the nearest
// voxel that is not a seed (distance_to_mask: ITK's SignedMaurerDistanceMapImageFilter, exact);
// its maxima that stand more than `h` mm above the saddle to a higher one (HMaximaImageFilter,
// then RegionalMaximaImageFilter) become the new seeds, one per connected plateau. A seed with
// one such maximum stays one seed (smaller: the watershed refills the rest); two nuclei whose
// interiors touch through a neck become two.
template <unsigned D>
typename itk::Image<uint32_t, D>::Pointer split_seeds(typename itk::Image<uint32_t, D>::Pointer seeds,
                                                      const Geometry& g, double h) {
  using Mask = itk::Image<uint8_t, D>;
  using Dist = itk::Image<float, D>;
  const int64_t n = g.voxels();
  const uint32_t* sd = seeds->GetBufferPointer();
  std::vector<uint8_t> outside(static_cast<size_t>(n));
  bool any_outside = false;
  for (int64_t i = 0; i < n; ++i) {
    outside[i] = sd[i] ? 0 : 1;
    any_outside = any_outside || outside[i];
  }
  if (!any_outside) return seeds;  // one seed filling the image: nothing to split by
  const std::vector<float> dist = distance_to_mask(outside.data(), g);
  auto d = imaging::image_from<float, D>(g, nullptr);
  float* dv = d->GetBufferPointer();
  // Outside the seeds: below anything HMaxima can lower a seed to, so that every seed keeps at
  // least one maximum however thin it is.
  const float below = -static_cast<float>(h) - 1.f;
  for (int64_t i = 0; i < n; ++i) dv[i] = outside[i] ? below : dist[i];
  auto hmax = itk::HMaximaImageFilter<Dist, Dist>::New();
  hmax->SetInput(d);
  hmax->SetHeight(static_cast<float>(h));
  hmax->SetFullyConnected(false);
  auto peaks = itk::RegionalMaximaImageFilter<Dist, Mask>::New();
  peaks->SetInput(hmax->GetOutput());
  peaks->SetFullyConnected(false);
  peaks->SetFlatIsMaxima(true);
  peaks->SetForegroundValue(1);
  peaks->SetBackgroundValue(0);
  peaks->Update();
  auto top = peaks->GetOutput();
  uint8_t* t = top->GetBufferPointer();
  for (int64_t i = 0; i < n; ++i) t[i] = t[i] && !outside[i] ? 1 : 0;
  return components<D>(top, 0);
}

template <unsigned D>
Tensor split_d(const Tensor& foreground, const Tensor& probs, const Geometry& g,
               const InstanceSettings& s) {
  using Lab = itk::Image<uint32_t, D>;
  using Relief = itk::Image<uint8_t, D>;
  const int64_t n = g.voxels();
  const float* f = foreground.data();
  const float* p0 = probs.data();
  const float* p1 = p0 + n;
  const float* p2 = p1 + n;

  // 1. The foreground, with its holes filled: background components that do not touch the
  //    image border (ITK's BinaryFillholeImageFilter does the same through a shape label map,
  //    about 10 times slower).
  auto fg = imaging::image_from<uint8_t, D>(g, nullptr);
  uint8_t* m = fg->GetBufferPointer();
  for (int64_t i = 0; i < n; ++i) m[i] = f[i] > 0.5f ? 1 : 0;
  if (s.fill_holes) fill_enclosed<D>(fg, g);
  Tensor out = Tensor::zeros(foreground.shape());
  bool any = false;
  for (int64_t i = 0; i < n && !any; ++i) any = m[i] != 0;
  if (!any) return out;

  // 2. Seeds: interior (the first most probable class, as argmax) inside the foreground; then
  //    every foreground component without a seed becomes one.
  auto interior = imaging::image_from<uint8_t, D>(g, nullptr);
  uint8_t* in = interior->GetBufferPointer();
  for (int64_t i = 0; i < n; ++i) in[i] = m[i] && p1[i] > p0[i] && p1[i] >= p2[i] ? 1 : 0;
  auto markers = components<D>(interior, voxels_of_size(s.seed_min_size, g));
  if (s.seed_split > 0) markers = split_seeds<D>(markers, g, s.seed_split);
  uint32_t* mk = markers->GetBufferPointer();
  uint32_t next = 0;
  for (int64_t i = 0; i < n; ++i) next = std::max(next, mk[i]);
  auto parts = components<D>(fg, 0);
  const uint32_t* part = parts->GetBufferPointer();
  uint32_t n_parts = 0;
  for (int64_t i = 0; i < n; ++i) n_parts = std::max(n_parts, part[i]);
  std::vector<uint8_t> seeded(static_cast<size_t>(n_parts) + 1, 0);
  for (int64_t i = 0; i < n; ++i)
    if (mk[i]) seeded[part[i]] = 1;
  std::vector<uint32_t> own(seeded.size(), 0);
  for (uint32_t c = 1; c <= n_parts; ++c)
    if (!seeded[c]) own[c] = ++next;
  for (int64_t i = 0; i < n; ++i)
    if (part[i] && own[part[i]]) mk[i] = own[part[i]];

  // 3. Watershed on 1 - P(interior) inside the foreground, in 255 levels (0..254; the flooding
  //    keeps one queue per level, so few levels are fast); the background (255, above any
  //    probability) is flooded last, so no object reaches another through it.
  auto relief = imaging::image_from<uint8_t, D>(g, nullptr);
  uint8_t* r = relief->GetBufferPointer();
  for (int64_t i = 0; i < n; ++i)
    r[i] = m[i] ? static_cast<uint8_t>(std::lround(254.f * std::clamp(1.f - p1[i], 0.f, 1.f)))
                : 255;
  auto ws = itk::MorphologicalWatershedFromMarkersImageFilter<Relief, Lab>::New();
  ws->SetInput(relief);
  ws->SetMarkerImage(markers);
  ws->SetFullyConnected(false);
  ws->SetMarkWatershedLine(false);
  ws->Update();
  auto objects = ws->GetOutput();
  uint32_t* w = objects->GetBufferPointer();
  for (int64_t i = 0; i < n; ++i)
    if (!m[i]) w[i] = 0;

  // 4. Small objects removed; ids by decreasing size.
  auto relabel = itk::RelabelComponentImageFilter<Lab, Lab>::New();
  relabel->SetInput(objects);
  relabel->SetSortByObjectSize(true);
  relabel->SetMinimumObjectSize(voxels_of_size(s.min_size, g));
  relabel->Update();
  USEG_CHECK(relabel->GetNumberOfObjects() < (1u << 24),
             "split_instances: " << relabel->GetNumberOfObjects()
                                 << " objects do not fit exactly in float32 labels");
  const uint32_t* id = relabel->GetOutput()->GetBufferPointer();
  float* o = out.data();
  for (int64_t i = 0; i < n; ++i) o[i] = static_cast<float>(id[i]);
  return out;
}

}  // namespace

Tensor split_instances(const Tensor& foreground, const Tensor& probabilities, const Geometry& g,
                       const InstanceSettings& settings) {
  const Shape& s = foreground.shape();
  const Shape& ps = probabilities.shape();
  USEG_CHECK(foreground.defined() && foreground.device() == Device::CPU && s.rank() == 5 &&
                 s[0] == 1 && s[1] == 1 && s[2] == g.size[2] && s[3] == g.size[1] &&
                 s[4] == g.size[0],
             "split_instances: foreground " << s.str() << " does not match " << g.str());
  USEG_CHECK(probabilities.defined() && probabilities.device() == Device::CPU &&
                 ps.rank() == 5 && ps[0] == 1 && ps[1] == 3 && ps[2] == s[2] && ps[3] == s[3] &&
                 ps[4] == s[4],
             "split_instances: probabilities " << ps.str()
                                               << " must be [1, 3, D, H, W] (background, "
                                                  "interior, boundary) on "
                                               << g.str());
  USEG_CHECK(g.dims == 2 || g.dims == 3, "split_instances: geometry has dims " << g.dims);
  try {
    return g.dims == 2 ? split_d<2>(foreground, probabilities, g, settings)
                       : split_d<3>(foreground, probabilities, g, settings);
  } catch (const itk::ExceptionObject& e) {
    USEG_THROW("splitting instances failed: " << e.GetDescription());
  }
}

}  // namespace useg
