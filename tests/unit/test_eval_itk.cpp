// `useg eval`'s metrics against ITK's own filters on the same random blob images (2D and 3D,
// anisotropic spacing, oblique direction): LabelOverlapMeasuresImageFilter for the overlap
// measures, HausdorffDistanceImageFilter / DirectedHausdorffDistanceImageFilter (image spacing
// on) for the maximum and average surface distances, BinaryContourImageFilter for the surface.
#include <gtest/gtest.h>
#include <itkBinaryContourImageFilter.h>
#include <itkDirectedHausdorffDistanceImageFilter.h>
#include <itkHausdorffDistanceImageFilter.h>
#include <itkImage.h>
#include <itkLabelOverlapMeasuresImageFilter.h>

#include <algorithm>
#include <cstring>

#include "common/image_fixtures.h"
#include "eval_test_util.h"
#include "useg/metrics.h"

namespace useg {
namespace {

template <unsigned D>
using U8 = itk::Image<uint8_t, D>;

template <unsigned D>
typename U8<D>::Pointer to_itk(const std::vector<uint8_t>& v, const Geometry& g) {
  auto im = U8<D>::New();
  typename U8<D>::RegionType region;
  typename U8<D>::SpacingType spacing;
  typename U8<D>::PointType origin;
  typename U8<D>::DirectionType direction;
  for (unsigned i = 0; i < D; ++i) {
    region.SetSize(i, g.size[i]);
    spacing[i] = g.spacing[i];
    origin[i] = g.origin[i];
    for (unsigned j = 0; j < D; ++j) direction[i][j] = g.direction[3 * i + j];
  }
  im->SetRegions(region);
  im->SetSpacing(spacing);
  im->SetOrigin(origin);
  im->SetDirection(direction);
  im->Allocate();
  std::memcpy(im->GetBufferPointer(), v.data(), v.size());
  return im;
}

std::vector<uint8_t> labels_u8(const Tensor& t) {
  std::vector<uint8_t> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = static_cast<uint8_t>(std::lround(t.data()[i]));
  return v;
}

struct ItkHausdorff {
  double hd = 0;                    // HausdorffDistanceImageFilter
  double mean_ab = 0, mean_ba = 0;  // DirectedHausdorffDistanceImageFilter averages
};

template <unsigned D>
ItkHausdorff itk_hausdorff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b,
                           const Geometry& g) {
  auto ia = to_itk<D>(a, g), ib = to_itk<D>(b, g);
  auto hd = itk::HausdorffDistanceImageFilter<U8<D>, U8<D>>::New();
  hd->SetInput1(ia);
  hd->SetInput2(ib);
  hd->SetUseImageSpacing(true);
  hd->Update();
  ItkHausdorff r;
  r.hd = hd->GetHausdorffDistance();
  for (int dir = 0; dir < 2; ++dir) {
    auto f = itk::DirectedHausdorffDistanceImageFilter<U8<D>, U8<D>>::New();
    f->SetInput1(dir == 0 ? ia : ib);
    f->SetInput2(dir == 0 ? ib : ia);
    f->SetUseImageSpacing(true);
    f->Update();
    (dir == 0 ? r.mean_ab : r.mean_ba) = f->GetAverageHausdorffDistance();
  }
  return r;
}

template <unsigned D>
std::vector<uint8_t> itk_contour(const std::vector<uint8_t>& m, const Geometry& g) {
  auto f = itk::BinaryContourImageFilter<U8<D>, U8<D>>::New();
  f->SetInput(to_itk<D>(m, g));
  f->SetFullyConnected(false);  // face connectivity
  f->SetForegroundValue(1);
  f->SetBackgroundValue(0);
  f->Update();
  const uint8_t* p = f->GetOutput()->GetBufferPointer();
  return std::vector<uint8_t>(p, p + m.size());
}

// `m` on `g` placed at offset 1 (per axis of gp that is larger) of a zero grid `gp`.
std::vector<uint8_t> pad(const std::vector<uint8_t>& m, const Geometry& g, const Geometry& gp) {
  std::vector<uint8_t> out(static_cast<size_t>(gp.voxels()), 0);
  const int64_t oz = gp.size[2] > g.size[2] ? 1 : 0;
  for (int64_t z = 0; z < g.size[2]; ++z)
    for (int64_t y = 0; y < g.size[1]; ++y)
      for (int64_t x = 0; x < g.size[0]; ++x)
        out[((z + oz) * gp.size[1] + y + 1) * gp.size[0] + x + 1] =
            m[(z * g.size[1] + y) * g.size[0] + x];
  return out;
}

Geometry geometry_for(int dims) {
  Geometry g = dims == 3 ? test::oblique_geometry_3d() : test::oblique_geometry_2d();
  if (dims == 3) {
    g.size = {46, 38, 21};
    g.spacing = {0.7, 1.1, 2.3};
  } else {
    g.size = {97, 71, 1};
    g.spacing = {0.4, 0.9, 1.0};
  }
  return g;
}

// Largest deviations seen, printed after each test (the agreement figures of docs/eval.md).
struct Deviation {
  double overlap = 0, hd_rel = 0, assd_rel = 0;
  int pairs = 0;
};

template <unsigned D>
void compare_with_itk(uint32_t seed, Deviation& dev) {
  const Geometry g = geometry_for(D);
  Tensor pred, ref;
  test::random_blob_pair(g, seed, 2, pred, ref);
  LabelEvalOptions opt;
  const std::vector<LabelMetrics> ours = evaluate_labels(pred, ref, g, {1, 2}, opt);

  auto overlap = itk::LabelOverlapMeasuresImageFilter<U8<D>>::New();
  overlap->SetSourceImage(to_itk<D>(labels_u8(pred), g));  // source = prediction
  overlap->SetTargetImage(to_itk<D>(labels_u8(ref), g));   // target = reference
  overlap->Update();

  for (const LabelMetrics& m : ours) {
    SCOPED_TRACE(testing::Message() << D << "D seed " << seed << " label " << m.label);
    ASSERT_EQ(m.empty, EmptyCase::None);
    const uint8_t l = static_cast<uint8_t>(m.label);
    EXPECT_NEAR(m.dice, overlap->GetDiceCoefficient(l), 1e-12);
    EXPECT_NEAR(m.iou, overlap->GetJaccardCoefficient(l), 1e-12);
    EXPECT_NEAR(1 - m.precision, overlap->GetFalsePositiveError(l), 1e-12);
    EXPECT_NEAR(1 - m.recall, overlap->GetFalseNegativeError(l), 1e-12);
    EXPECT_NEAR(2 * m.vol_diff_mm3 / (m.pred_mm3 + m.ref_mm3), overlap->GetVolumeSimilarity(l),
                1e-12);

    // Surface distances: ITK's Hausdorff filters on the surface masks (same definition of the
    // surface, ITK's own distance pipeline and reduction).
    const auto a = test::mask_of(pred, m.label), b = test::mask_of(ref, m.label);
    const auto sa = surface_voxels(a.data(), g), sb = surface_voxels(b.data(), g);
    const ItkHausdorff h = itk_hausdorff<D>(sa, sb, g);
    EXPECT_NEAR(m.hd, h.hd, 1e-5 * h.hd);
    for (double diff :
         {m.dice - overlap->GetDiceCoefficient(l), m.iou - overlap->GetJaccardCoefficient(l),
          1 - m.precision - overlap->GetFalsePositiveError(l),
          1 - m.recall - overlap->GetFalseNegativeError(l)})
      dev.overlap = std::max(dev.overlap, std::fabs(diff));
    dev.hd_rel = std::max(dev.hd_rel, std::fabs(m.hd - h.hd) / h.hd);
    dev.pairs += 1;
    const double na = std::count(sa.begin(), sa.end(), 1), nb = std::count(sb.begin(), sb.end(), 1);
    const double itk_assd = (na * h.mean_ab + nb * h.mean_ba) / (na + nb);
    EXPECT_NEAR(m.assd, itk_assd, 1e-5 * m.assd);
    dev.assd_rel = std::max(dev.assd_rel, std::fabs(m.assd - itk_assd) / itk_assd);

    // The surface equals ITK's face-connected contour, computed with a margin of background
    // around the image (outside the image counts as outside the mask).
    Geometry gp = g;
    for (unsigned k = 0; k < D; ++k) gp.size[k] += 2;
    const auto contour = itk_contour<D>(pad(a, g, gp), gp);
    EXPECT_EQ(pad(sa, g, gp), contour);
    EXPECT_EQ(surface_voxels(pad(a, g, gp).data(), gp), contour);
  }
}

void print(const Deviation& d, const char* what) {
  std::printf(
      "[ itk      ] %s, %d label pairs: max |diff| Dice/IoU/FPE/FNE %.3g; relative HD %.3g, "
      "ASSD %.3g\n",
      what, d.pairs, d.overlap, d.hd_rel, d.assd_rel);
}

TEST(EvalVsItk, RandomBlobs3D) {
  Deviation dev;
  for (uint32_t seed = 1; seed <= 6; ++seed) compare_with_itk<3>(seed, dev);
  print(dev, "3D");
}

TEST(EvalVsItk, RandomBlobs2D) {
  Deviation dev;
  for (uint32_t seed = 1; seed <= 6; ++seed) compare_with_itk<2>(seed, dev);
  print(dev, "2D");
}

// ITK's HausdorffDistanceImageFilter on the masks themselves measures from every voxel of one
// mask to the other mask, 0 for voxels inside it. Surface distances also measure the surface
// voxels that lie inside the other mask (to its surface). So the two agree exactly when the
// largest surface distance belongs to a surface voxel outside the other mask; checked here: ITK's
// value equals our maximum over the surface voxels outside the other mask, in every pair, and
// ours is larger only through surface voxels inside the other mask (docs/eval.md).
template <unsigned D>
void compare_raw_hausdorff(uint32_t seed, int& agree, int& total) {
  const Geometry g = geometry_for(D);
  Tensor pred, ref;
  test::random_blob_pair(g, seed, 2, pred, ref);
  const std::vector<LabelMetrics> ours = evaluate_labels(pred, ref, g, {1, 2});
  for (const LabelMetrics& m : ours) {
    SCOPED_TRACE(testing::Message() << D << "D seed " << seed << " label " << m.label);
    const auto a = test::mask_of(pred, m.label), b = test::mask_of(ref, m.label);
    const ItkHausdorff h = itk_hausdorff<D>(a, b, g);
    const SurfaceDistances d = surface_distances(a.data(), b.data(), g);
    double out_max = 0, in_max = 0;
    auto scan = [&](const std::vector<uint8_t>& from, const std::vector<uint8_t>& other,
                    const std::vector<double>& dist) {
      const auto s = surface_voxels(from.data(), g);
      size_t k = 0;
      for (size_t i = 0; i < s.size(); ++i)
        if (s[i]) {
          double& mx = other[i] ? in_max : out_max;
          mx = std::max(mx, dist.at(k++));
        }
      EXPECT_EQ(k, dist.size());
    };
    scan(a, b, d.pred_to_ref);
    scan(b, a, d.ref_to_pred);
    EXPECT_NEAR(h.hd, out_max, 1e-5 * h.hd);
    EXPECT_DOUBLE_EQ(m.hd, std::max(out_max, in_max));
    total += 1;
    agree += std::fabs(m.hd - h.hd) <= 1e-5 * h.hd;
    if (std::fabs(m.hd - h.hd) > 1e-5 * h.hd)
      std::printf(
          "[ itk-hd   ] %uD seed %u label %d: surface HD %.4f mm (inside the other mask), "
          "ITK mask HD %.4f mm\n",
          D, seed, m.label, m.hd, h.hd);
  }
}

TEST(EvalVsItk, HausdorffOnMasks) {
  int agree = 0, total = 0;
  for (uint32_t seed = 1; seed <= 6; ++seed) {
    compare_raw_hausdorff<3>(seed, agree, total);
    compare_raw_hausdorff<2>(seed, agree, total);
  }
  std::printf("[ itk-hd   ] surface HD equal to ITK's mask HD in %d of %d label pairs\n", agree,
              total);
}

}  // namespace
}  // namespace useg
