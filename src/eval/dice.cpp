#include <algorithm>
#include <cmath>

#include "useg/error.h"
#include "useg/metrics.h"

namespace useg {

std::vector<double> dice_per_class(const Tensor& pred, const Tensor& ref, int num_classes) {
  USEG_CHECK(pred.numel() == ref.numel(), "dice: prediction " << pred.shape().str()
                                                              << " and reference "
                                                              << ref.shape().str()
                                                              << " differ in size");
  USEG_CHECK(num_classes >= 1, "dice: num_classes must be positive");
  std::vector<double> tp(num_classes, 0), np(num_classes, 0), nr(num_classes, 0);
  const float* p = pred.data();
  const float* r = ref.data();
  for (int64_t i = 0; i < pred.numel(); ++i) {
    int a = static_cast<int>(std::lround(p[i])), b = static_cast<int>(std::lround(r[i]));
    if (a >= 0 && a < num_classes) np[a] += 1;
    if (b >= 0 && b < num_classes) nr[b] += 1;
    if (a == b && a >= 0 && a < num_classes) tp[a] += 1;
  }
  std::vector<double> d(num_classes);
  for (int k = 0; k < num_classes; ++k)
    d[k] = (np[k] + nr[k]) == 0 ? 1.0 : 2.0 * tp[k] / (np[k] + nr[k]);
  return d;
}

}  // namespace useg
