#include "cpu/cpu_backend.h"
#include "ops/flip.h"
#include "useg/error.h"

namespace useg::cpu {

void CpuBackend::flip_spatial(const Tensor& x, int axes, Tensor& y) {
  USEG_CHECK(x.shape() == y.shape(), "flip_spatial: output " << y.shape().str()
                                                              << " differs from input "
                                                              << x.shape().str());
  USEG_CHECK(x.data() != y.data(), "flip_spatial: output must not alias the input");
  USEG_CHECK(axes >= 0 && axes < 8, "flip_spatial: axes mask " << axes << " outside 0..7");
  const Shape& s = x.shape();
  int64_t d = s.d(), h = s.h(), w = s.w(), n = x.numel();
  const float* px = x.data();
  float* py = y.data();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) py[i] = px[ops::flip_source_index(i, d, h, w, axes)];
}

}  // namespace useg::cpu
