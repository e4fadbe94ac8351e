// segment_estimating_diameter (auto_diameter.h): Cellpose's automatic diameter,
// done with the segmentation model itself instead of a separate size model.
#include "infer/auto_diameter.h"

#include <cmath>

#include "useg/metrics.h"
#include "util/stats.h"

namespace useg {

Segmentation segment_estimating_diameter(const Image& image, const std::vector<ModelGroup>& groups,
                                         const SegmentOptions& opts,
                                         const std::function<void(int64_t, int64_t)>& progress) {
  const ModelInfo& info = groups.at(0).info;
  for (const ModelGroup& g : groups)  // instance models with a recorded diameter
    case_model_info(g.info, image.geometry, opts);
  SegmentOptions o = opts;
  o.auto_diameter = false;
  const double d = info.instances.diameter;
  Segmentation best;  // the pass with the highest ratio so far
  double best_ratio = -1;
  int passes = 0;
  for (int k = 3; k >= -2; --k) {
    o.diameter = d * std::pow(2.0, k / 2.0);  // exact for k = 0 (d) and -2 (kAutoDiameterSmallest)
    Segmentation seg = segment_image(image, groups, o, progress);
    ++passes;
    const std::vector<double> found = object_diameters(seg.instances, image.geometry);
    const double ratio = found.empty() ? 0 : percentile(found, 50) / o.diameter;
    if (ratio >= kAutoDiameterAccept) {
      seg.diameter_passes = passes;
      return seg;
    }
    if (ratio > best_ratio) best_ratio = ratio, best = std::move(seg);
  }
  best.diameter_passes = passes;
  return best;
}

}  // namespace useg
