// Segmentation metrics. dice_per_class is what the trainer's validation reports; `useg eval`
// computes the same Dice (and more) from files, and the two agree on the same prediction.
//
// Everything here works on label maps held as CPU tensors of class indices stored as floats
// (the layout read_image gives, [1, 1, D, H, W]) and on binary masks (uint8, x fastest, laid out
// on a Geometry's size). Physical quantities use the geometry's spacing (mm); the direction and
// origin do not change any metric. Definitions and the rules for empty masks: docs/eval.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "useg/image.h"
#include "useg/tensor.h"

namespace useg {

// Dice of every class 0..num_classes-1 between two label maps of the same shape (CPU tensors of
// class indices stored as floats). A class absent from both gives 1 (nothing to find, nothing
// found), absent from one side 0.
std::vector<double> dice_per_class(const Tensor& pred, const Tensor& ref, int num_classes);

// ---------------------------------------------------------------- voxel overlap

// Voxel counts of one label: in the reference, in the prediction, in both.
struct OverlapCounts {
  int64_t ref = 0, pred = 0, tp = 0;
  int64_t fp() const { return pred - tp; }
  int64_t fn() const { return ref - tp; }
};

// Counts for labels 0..num_labels-1 in one pass (values are rounded to the nearest integer;
// values outside the range are ignored).
std::vector<OverlapCounts> overlap_counts(const Tensor& pred, const Tensor& ref, int num_labels);

// Checks that every voxel of `labels` is a non-negative integer (within 1e-3) and returns the
// largest label. Throws naming `source`, the value and the voxel index otherwise.
int check_label_image(const Tensor& labels, const std::string& source);

// ---------------------------------------------------------------- surfaces and distances

// The surface of a binary mask: voxels of the mask with at least one face neighbour (6 in 3D,
// 4 in 2D, by g.dims) outside the mask; outside the image counts as outside the mask.
std::vector<uint8_t> surface_voxels(const uint8_t* mask, const Geometry& g);

// For every surface voxel of `pred` (in x-fastest order) its distance in mm to the nearest
// surface voxel of `ref`, and the other way round. Computed with Euclidean distance maps of each
// surface (src/imaging), restricted to the bounding box of both masks. Both masks must be
// non-empty.
struct SurfaceDistances {
  std::vector<double> pred_to_ref;
  std::vector<double> ref_to_pred;
};
SurfaceDistances surface_distances(const uint8_t* pred, const uint8_t* ref, const Geometry& g);

// ---------------------------------------------------------------- per-label metrics

enum class EmptyCase { None, Ref, Pred, Both };
const char* empty_case_name(EmptyCase e);  // "" | "empty_ref" | "empty_pred" | "empty_both"

struct LabelMetrics {
  int label = 0;
  OverlapCounts counts;
  double ref_mm3 = 0, pred_mm3 = 0;  // volumes (2D: areas in mm^2)
  double dice = 0, iou = 0, precision = 0, recall = 0;
  double vol_diff_mm3 = 0;            // pred - ref
  double vol_diff_rel = 0;            // (pred - ref) / ref; NaN when ref is empty and pred not
  double hd = 0, hd95 = 0, assd = 0;  // mm; NaN unless both masks are non-empty
  double nsd = 0;                     // normalized surface Dice at tolerance_mm
  double tolerance_mm = 0;
  EmptyCase empty = EmptyCase::None;
};

// Metrics from counts and (when both masks are non-empty) surface distances. Ratios: 1 when both
// masks are empty, 0 when only their denominator is zero.
LabelMetrics label_metrics(int label, const OverlapCounts& c, double voxel_mm3,
                           const SurfaceDistances* d, double tolerance_mm);

struct LabelEvalOptions {
  double tolerance_mm = 1.0;  // for the normalized surface Dice
  bool distances = true;      // false: hd/hd95/assd/nsd are NaN (overlap only, fast)
};

// Metrics of each label in `labels` between two label maps on geometry `g` (shapes must match
// g.size). One pass for the counts and bounding boxes, then one pair of distance maps per label
// that is present in both maps.
std::vector<LabelMetrics> evaluate_labels(const Tensor& pred, const Tensor& ref, const Geometry& g,
                                          const std::vector<int>& labels,
                                          const LabelEvalOptions& opt = {});

// ---------------------------------------------------------------- instances (cells, nuclei)

// Objects of two instance label maps (0 = background, every other value one object) and the
// voxel counts of every overlapping (pred, ref) pair.
struct InstanceOverlap {
  std::vector<int> pred_ids, ref_ids;          // sorted object ids
  std::vector<int64_t> pred_sizes, ref_sizes;  // voxels, same order
  struct Pair {
    int pred, ref;  // indices into pred_ids / ref_ids
    int64_t intersection;
    double iou;
  };
  std::vector<Pair> pairs;  // every pair with a non-zero intersection
};
InstanceOverlap instance_overlap(const Tensor& pred, const Tensor& ref);

// The equivalent diameter (mm) of every object of an instance label volume on `g`: the diameter
// of the disc (2D image) or ball (3D) of the object's area / volume; by object id.
std::vector<double> object_diameters(const Tensor& ids, const Geometry& g);

// One-to-one matching of objects with IoU >= threshold that maximizes the number of matches and
// then the summed IoU (for thresholds > 0.5 every object has at most one candidate, so this is
// the plain thresholding of the DSB 2018 / StarDist measure).
struct InstanceScores {
  double threshold = 0.5;
  int64_t n_ref = 0, n_pred = 0, tp = 0, fp = 0, fn = 0;
  double sum_matched_iou = 0;
  double precision = 0, recall = 0, f1 = 0;
  double accuracy = 0;          // TP / (TP + FP + FN), StarDist's "accuracy" (AP at the threshold)
  double mean_matched_iou = 0;  // NaN when TP = 0
  double panoptic_quality = 0;  // sum matched IoU / (TP + FP/2 + FN/2)
  std::vector<std::pair<int, int>> matches;  // (pred id, ref id)
};
InstanceScores match_instances(const InstanceOverlap& o, double threshold);
// Pooling over cases (StarDist's matching_dataset): adds s's object counts and matched IoU to
// `pooled`; finish_instance_scores then gives the pooled ratios.
void add_instance_counts(InstanceScores& pooled, const InstanceScores& s);
// The ratios from counts (used for pooled rows too); both images empty gives 1.
void finish_instance_scores(InstanceScores& s);

}  // namespace useg
