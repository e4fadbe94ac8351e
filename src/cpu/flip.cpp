// Mirroring of the spatial axes on the CPU: an OpenMP loop over ops/flip.h.
#include "core/op_checks.h"
#include "cpu/cpu_backend.h"
#include "ops/flip.h"
#include "useg/error.h"

namespace useg::cpu {

void flip_spatial(BackendImpl& be, const Tensor& x, int axes, Tensor& y) {
  const Shape& s = x.shape();
  int64_t d = s.d(), h = s.h(), w = s.w(), n = x.numel();
  const float* px = x.data();
  float* py = y.data();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) py[i] = px[ops::flip_source_index(i, d, h, w, axes)];
}

void add_flip_ops(BackendOps& t) {
  t.flip_spatial = flip_spatial;
}

}  // namespace useg::cpu
