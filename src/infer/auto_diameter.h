// --diameter auto (SegmentOptions::auto_diameter, useg/segment.h): the objects'
// diameter chosen per case by segmenting it at a few scales.
#pragma once

#include <functional>
#include <vector>

#include "useg/segment.h"

namespace useg {

// See kAutoDiameterAccept in useg/segment.h: the scales are the first group's recorded diameter
// times 2.83 .. 0.5; each group is resampled for the same objects (case_model_info). Throws as
// case_model_info does for a class model or one without instances.diameter.
Segmentation segment_estimating_diameter(const Image& image, const std::vector<ModelGroup>& groups,
                                         const SegmentOptions& opts,
                                         const std::function<void(int64_t, int64_t)>& progress);

}  // namespace useg
