// Voxel overlap counts of label maps, the trainer's per-class Dice built on them, and the check
// that a file really holds labels.
#include <algorithm>
#include <cmath>

#include "useg/error.h"
#include "useg/metrics.h"

namespace useg {

std::vector<OverlapCounts> overlap_counts(const Tensor& pred, const Tensor& ref, int num_labels) {
  USEG_REQUIRE(pred.numel() == ref.numel(), "overlap: prediction "
                                                << pred.shape().str() << " and reference "
                                                << ref.shape().str() << " differ in size");
  USEG_REQUIRE(num_labels >= 1, "overlap: num_labels must be positive");
  USEG_REQUIRE(pred.device() == Device::CPU && ref.device() == Device::CPU,
               "overlap: label maps must be CPU tensors");
  std::vector<OverlapCounts> c(static_cast<size_t>(num_labels));
  const float* p = pred.data();
  const float* r = ref.data();
  for (int64_t i = 0; i < pred.numel(); ++i) {
    long a = std::lround(p[i]), b = std::lround(r[i]);
    if (a >= 0 && a < num_labels) {
      c[a].pred += 1;
      if (a == b) c[a].tp += 1;
    }
    if (b >= 0 && b < num_labels) c[b].ref += 1;
  }
  return c;
}

std::vector<double> dice_per_class(const Tensor& pred, const Tensor& ref, int num_classes) {
  USEG_REQUIRE(pred.numel() == ref.numel(), "dice: prediction "
                                                << pred.shape().str() << " and reference "
                                                << ref.shape().str() << " differ in size");
  USEG_REQUIRE(num_classes >= 1, "dice: num_classes must be positive");
  std::vector<OverlapCounts> c = overlap_counts(pred, ref, num_classes);
  std::vector<double> d(num_classes);
  for (int k = 0; k < num_classes; ++k) {
    const double sum = static_cast<double>(c[k].pred + c[k].ref);
    d[k] = sum == 0 ? 1.0 : 2.0 * static_cast<double>(c[k].tp) / sum;
  }
  return d;
}

int check_label_image(const Tensor& labels, const std::string& source) {
  USEG_REQUIRE(labels.defined() && labels.device() == Device::CPU,
               source << ": no voxels to evaluate");
  const float* v = labels.data();
  float top = 0;
  for (int64_t i = 0; i < labels.numel(); ++i) {
    const float x = v[i];
    if (!(x >= -1e-3f) || std::fabs(x - std::round(x)) > 1e-3f || x > 16777216.0f)
      USEG_THROW(source << " is not a label image: voxel " << i << " holds " << x
                        << " (labels must be integers 0..16777216)");
    top = std::max(top, x);
  }
  return static_cast<int>(std::lround(top));
}

}  // namespace useg
