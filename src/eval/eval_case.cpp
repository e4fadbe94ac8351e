// One case of `useg eval`: read the prediction and the reference, refuse what cannot be compared
// voxel for voxel, compute the metrics.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <set>

#include "io/image_checks.h"  // geometry_difference (plain C++, no ITK)
#include "useg/error.h"
#include "useg/eval.h"
#include "useg/image.h"

namespace useg {

namespace {

Image read_labels(const std::string& path, const char* role) {
  Image im = read_image(path);
  if (im.channels() != 1)
    USEG_THROW("the " << role << " " << path << " has " << im.channels()
                      << " channels; a label image has one");
  return im;
}

// Non-zero labels present in either map (both checked to hold labels up to `top`).
std::vector<int> present_labels(const Tensor& a, const Tensor& b, int top) {
  std::vector<char> seen(static_cast<size_t>(top) + 1, 0);
  for (const Tensor* t : {&a, &b}) {
    const float* v = t->data();
    for (int64_t i = 0; i < t->numel(); ++i) seen[static_cast<size_t>(std::lround(v[i]))] = 1;
  }
  std::vector<int> out;
  for (int l = 1; l <= top; ++l)
    if (seen[l]) out.push_back(l);
  return out;
}

}  // namespace

CaseResult evaluate_case(const CasePair& pair, const EvalOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  CaseResult r = evaluate_case(pair, read_labels(pair.pred, "prediction"),
                               read_labels(pair.ref, "reference"), opt);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

CaseResult evaluate_case(const CasePair& pair, const Image& pred, const Image& ref,
                         const EvalOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string diff = geometry_difference(pred.geometry, ref.geometry);
  if (!diff.empty())
    USEG_THROW("geometry mismatch between prediction "
               << pair.pred << " and reference " << pair.ref << ": " << diff
               << " (useg eval never resamples; resample the prediction onto "
                  "the reference grid first)");
  const int top =
      std::max(check_label_image(pred.voxels, pair.pred), check_label_image(ref.voxels, pair.ref));
  CaseResult r;
  r.pair = pair;
  r.geometry = ref.geometry;
  if (opt.instances) {
    const InstanceOverlap o = instance_overlap(pred.voxels, ref.voxels);
    for (double t : opt.iou_thresholds) r.instances.push_back(match_instances(o, t));
  } else {
    std::vector<int> labels = opt.labels;
    if (labels.empty()) labels = present_labels(pred.voxels, ref.voxels, top);
    LabelEvalOptions lo;
    lo.tolerance_mm = opt.tolerance_mm;
    lo.distances = opt.distances;
    r.labels = evaluate_labels(pred.voxels, ref.voxels, ref.geometry, labels, lo);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

void complete_labels(EvalReport& report) {
  if (report.options.instances || !report.options.labels.empty()) return;
  std::set<int> all;
  for (const CaseResult& c : report.cases)
    for (const LabelMetrics& m : c.labels) all.insert(m.label);
  for (CaseResult& c : report.cases) {
    std::set<int> have;
    for (const LabelMetrics& m : c.labels) have.insert(m.label);
    for (int l : all)
      if (!have.count(l))
        c.labels.push_back(label_metrics(l, OverlapCounts{}, c.geometry.voxel_volume(), nullptr,
                                         report.options.tolerance_mm));
    std::sort(c.labels.begin(), c.labels.end(),
              [](const LabelMetrics& a, const LabelMetrics& b) { return a.label < b.label; });
  }
}

}  // namespace useg
