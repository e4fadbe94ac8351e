// The instance target's boundary test ("a voxel of another value lies in the ellipsoid") is a
// plain loop (src/imaging/instance_target.cpp); here it is checked against ITK's own grey
// dilation and erosion by the same ellipsoid: boundary = object voxel whose dilation or erosion
// differs from its id.
#include <gtest/gtest.h>
#include <itkFlatStructuringElement.h>
#include <itkGrayscaleDilateImageFilter.h>
#include <itkGrayscaleErodeImageFilter.h>
#include <itkImage.h>

#include <random>

#include "eval_test_util.h"
#include "useg/labels.h"

namespace useg {
namespace {

template <unsigned D>
Tensor itk_target(const Tensor& ids, const Geometry& g, const std::array<int, 3>& radius) {
  using Img = itk::Image<uint32_t, D>;
  using Kernel = itk::FlatStructuringElement<D>;
  auto img = Img::New();
  typename Img::RegionType region;
  for (unsigned a = 0; a < D; ++a) region.SetSize(a, g.size[a]);
  img->SetRegions(region);
  img->Allocate();
  const int64_t n = ids.numel();
  for (int64_t i = 0; i < n; ++i) img->GetBufferPointer()[i] = uint32_t(ids.data()[i]);
  typename Kernel::RadiusType r;
  for (unsigned a = 0; a < D; ++a) r[a] = radius[a];
  const Kernel k = Kernel::Ball(r, true);
  auto dil = itk::GrayscaleDilateImageFilter<Img, Img, Kernel>::New();
  dil->SetInput(img);
  dil->SetKernel(k);
  dil->Update();
  auto ero = itk::GrayscaleErodeImageFilter<Img, Img, Kernel>::New();
  ero->SetInput(img);
  ero->SetKernel(k);
  ero->Update();
  Tensor out = Tensor::zeros(ids.shape());
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t v = img->GetBufferPointer()[i];
    if (!v) continue;
    const bool edge = dil->GetOutput()->GetBufferPointer()[i] != v ||
                      ero->GetOutput()->GetBufferPointer()[i] != v;
    out.data()[i] = edge ? 2.f : 1.f;
  }
  return out;
}

// Random overlapping ellipsoids (later ones on top), so objects touch each other, the
// background and the image border in every way.
Tensor random_ids(const Geometry& g, int objects, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<test::Ellipsoid> e;
  for (int k = 0; k < objects; ++k) {
    test::Ellipsoid x{};
    for (int a = 0; a < 3; ++a) {
      x.c[a] = u(gen) * double(g.size[a]);
      x.r[a] = 1.5 + u(gen) * 0.3 * double(g.size[a]);
    }
    x.label = k + 1;
    e.push_back(x);
  }
  return test::label_map(g, [&](int64_t x, int64_t y, int64_t z) {
    int v = 0;
    for (const auto& el : e)
      if (test::inside(el, x, y, z, g.dims)) v = el.label;
    return v;
  });
}

TEST(InstanceTargetItk, EqualsGreyDilationAndErosion) {
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    const Geometry g2 = test::grid(2, {41, 29, 1}, {0.7, 0.7, 1});
    const Tensor ids2 = random_ids(g2, 12, seed);
    for (int w : {1, 2, 3}) {
      const Tensor ours = instance_boundary_target(ids2, g2, w);
      const Tensor ref = itk_target<2>(ids2, g2, boundary_radius(g2, w));
      int64_t diff = 0;
      for (int64_t i = 0; i < ours.numel(); ++i) diff += ours.data()[i] != ref.data()[i];
      EXPECT_EQ(diff, 0) << "2D seed " << seed << " width " << w;
    }
    const Geometry g3 = test::grid(3, {23, 19, 11}, {0.5, 0.6, 1.4});
    const Tensor ids3 = random_ids(g3, 10, seed);
    for (int w : {1, 3}) {
      const Tensor ours = instance_boundary_target(ids3, g3, w);
      const Tensor ref = itk_target<3>(ids3, g3, boundary_radius(g3, w));
      int64_t diff = 0, boundary = 0;
      for (int64_t i = 0; i < ours.numel(); ++i) {
        diff += ours.data()[i] != ref.data()[i];
        boundary += ours.data()[i] == 2.f;
      }
      EXPECT_EQ(diff, 0) << "3D seed " << seed << " width " << w;
      EXPECT_GT(boundary, 0);
    }
  }
}

}  // namespace
}  // namespace useg
