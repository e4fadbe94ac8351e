// Per-label metrics of a prediction against a reference: overlap ratios, volumes and surface
// distances, with the rules for empty masks of docs/eval.md.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numeric>

#include "util/stats.h"
#include "useg/error.h"
#include "useg/metrics.h"

namespace useg {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct LabelBox {
  OverlapCounts counts;
  std::array<int64_t, 3> lo{INT64_MAX, INT64_MAX, INT64_MAX}, hi{-1, -1, -1};
  void add(int64_t x, int64_t y, int64_t z) {
    lo = {std::min(lo[0], x), std::min(lo[1], y), std::min(lo[2], z)};
    hi = {std::max(hi[0], x), std::max(hi[1], y), std::max(hi[2], z)};
  }
};

// Binary masks of `label` in both maps, cropped to `box`.
void crop_masks(const float* p, const float* r, const Geometry& g, long label, const LabelBox& box,
                std::vector<uint8_t>& a, std::vector<uint8_t>& b) {
  const int64_t nx = box.hi[0] - box.lo[0] + 1, ny = box.hi[1] - box.lo[1] + 1,
                nz = box.hi[2] - box.lo[2] + 1;
  a.assign(static_cast<size_t>(nx * ny * nz), 0);
  b.assign(a.size(), 0);
  size_t j = 0;
  for (int64_t z = 0; z < nz; ++z)
    for (int64_t y = 0; y < ny; ++y) {
      const int64_t row = ((box.lo[2] + z) * g.size[1] + box.lo[1] + y) * g.size[0] + box.lo[0];
      for (int64_t x = 0; x < nx; ++x, ++j) {
        a[j] = std::lround(p[row + x]) == label;
        b[j] = std::lround(r[row + x]) == label;
      }
    }
}

}  // namespace

const char* empty_case_name(EmptyCase e) {
  switch (e) {
    case EmptyCase::None:
      return "";
    case EmptyCase::Ref:
      return "empty_ref";
    case EmptyCase::Pred:
      return "empty_pred";
    case EmptyCase::Both:
      return "empty_both";
  }
  return "?";
}

LabelMetrics label_metrics(int label, const OverlapCounts& c, double voxel_mm3,
                           const SurfaceDistances* d, double tolerance_mm) {
  USEG_REQUIRE(c.tp >= 0 && c.tp <= c.pred && c.tp <= c.ref,
               "label " << label << ": inconsistent counts (tp " << c.tp << ", pred " << c.pred
                        << ", ref " << c.ref << ")");
  LabelMetrics m;
  m.label = label;
  m.counts = c;
  m.tolerance_mm = tolerance_mm;
  m.empty = c.ref == 0 && c.pred == 0 ? EmptyCase::Both
            : c.ref == 0              ? EmptyCase::Ref
            : c.pred == 0             ? EmptyCase::Pred
                                      : EmptyCase::None;
  const bool both = m.empty == EmptyCase::Both;
  auto ratio = [both](double num, double den) { return both ? 1.0 : den == 0 ? 0.0 : num / den; };
  const double tp = static_cast<double>(c.tp), np = static_cast<double>(c.pred),
               nr = static_cast<double>(c.ref);
  m.dice = ratio(2 * tp, np + nr);
  m.iou = ratio(tp, np + nr - tp);
  m.precision = ratio(tp, np);
  m.recall = ratio(tp, nr);
  m.ref_mm3 = nr * voxel_mm3;
  m.pred_mm3 = np * voxel_mm3;
  m.vol_diff_mm3 = m.pred_mm3 - m.ref_mm3;
  m.vol_diff_rel = c.ref > 0 ? m.vol_diff_mm3 / m.ref_mm3 : both ? 0.0 : kNaN;
  m.hd = m.hd95 = m.assd = kNaN;
  if (m.empty != EmptyCase::None) {
    m.nsd = both ? 1.0 : 0.0;  // no surface to miss / every surface voxel missed
    return m;
  }
  m.nsd = kNaN;
  if (!d) return m;
  const std::vector<double>& ab = d->pred_to_ref;
  const std::vector<double>& ba = d->ref_to_pred;
  USEG_REQUIRE(!ab.empty() && !ba.empty(), "label " << label
                                                    << ": non-empty masks without "
                                                       "surface distances");
  m.hd = std::max(*std::max_element(ab.begin(), ab.end()), *std::max_element(ba.begin(), ba.end()));
  m.hd95 = std::max(percentile(ab, 95), percentile(ba, 95));
  const double n = static_cast<double>(ab.size() + ba.size());
  m.assd =
      (std::accumulate(ab.begin(), ab.end(), 0.0) + std::accumulate(ba.begin(), ba.end(), 0.0)) / n;
  // The distance maps are float: a relative slack of 1e-6 keeps a distance that equals the
  // tolerance on paper inside it.
  const double tol = tolerance_mm * (1 + 1e-6) + 1e-9;
  auto within = [tol](const std::vector<double>& v) {
    return static_cast<double>(
        std::count_if(v.begin(), v.end(), [tol](double x) { return x <= tol; }));
  };
  m.nsd = (within(ab) + within(ba)) / n;
  return m;
}

std::vector<LabelMetrics> evaluate_labels(const Tensor& pred, const Tensor& ref, const Geometry& g,
                                          const std::vector<int>& labels,
                                          const LabelEvalOptions& opt) {
  USEG_REQUIRE(pred.defined() && ref.defined() && pred.device() == Device::CPU &&
                   ref.device() == Device::CPU,
               "evaluate: label maps must be CPU tensors");
  USEG_REQUIRE(pred.numel() == g.voxels() && ref.numel() == g.voxels(),
               "evaluate: prediction " << pred.shape().str() << " and reference "
                                       << ref.shape().str() << " do not match " << g.str());
  USEG_REQUIRE(opt.tolerance_mm >= 0 && std::isfinite(opt.tolerance_mm),
               "evaluate: the surface Dice tolerance must be >= 0 mm, got " << opt.tolerance_mm);
  int top = 0;
  for (int l : labels) {
    USEG_REQUIRE(l >= 0 && l <= 16777216, "evaluate: label " << l << " is out of range");
    top = std::max(top, l);
  }
  std::vector<int> slot(static_cast<size_t>(top) + 1, -1);
  for (size_t k = 0; k < labels.size(); ++k) {
    USEG_REQUIRE(slot[labels[k]] < 0, "evaluate: label " << labels[k] << " is listed twice");
    slot[labels[k]] = static_cast<int>(k);
  }
  std::vector<LabelBox> boxes(labels.size());

  // One pass: counts and bounding boxes of every requested label.
  const float* p = pred.data();
  const float* r = ref.data();
  int64_t i = 0;
  for (int64_t z = 0; z < g.size[2]; ++z)
    for (int64_t y = 0; y < g.size[1]; ++y)
      for (int64_t x = 0; x < g.size[0]; ++x, ++i) {
        const long a = std::lround(p[i]), b = std::lround(r[i]);
        const int sa = a >= 0 && a <= top ? slot[a] : -1;
        const int sb = b >= 0 && b <= top ? slot[b] : -1;
        if (sa >= 0) {
          boxes[sa].counts.pred += 1;
          if (a == b) boxes[sa].counts.tp += 1;
          boxes[sa].add(x, y, z);
        }
        if (sb >= 0) {
          boxes[sb].counts.ref += 1;
          if (sb != sa) boxes[sb].add(x, y, z);
        }
      }

  const double vv = g.voxel_volume();
  std::vector<LabelMetrics> out;
  out.reserve(labels.size());
  std::vector<uint8_t> ma, mb;
  for (size_t k = 0; k < labels.size(); ++k) {
    const LabelBox& box = boxes[k];
    const bool both_present = box.counts.pred > 0 && box.counts.ref > 0;
    if (!opt.distances || !both_present) {
      out.push_back(label_metrics(labels[k], box.counts, vv, nullptr, opt.tolerance_mm));
      continue;
    }
    crop_masks(p, r, g, labels[k], box, ma, mb);
    Geometry gc = g;
    for (int a = 0; a < 3; ++a) gc.size[a] = box.hi[a] - box.lo[a] + 1;
    const SurfaceDistances d = surface_distances(ma.data(), mb.data(), gc);
    out.push_back(label_metrics(labels[k], box.counts, vv, &d, opt.tolerance_mm));
  }
  return out;
}

}  // namespace useg
