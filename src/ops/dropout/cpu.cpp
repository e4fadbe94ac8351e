// Dropout on the CPU: an OpenMP loop over ops/dropout/dropout.h (counter-based, so the mask
// does not depend on the thread count).
#include "ops/dropout/dropout.h"

#include "cpu/cpu_backend.h"
#include "cpu/parallel.h"

namespace useg::cpu {

void dropout_forward(BackendImpl& be, const Tensor& x, float p, uint64_t seed, Tensor& y,
                     Tensor& mask) {
  const float scale = ops::dropout_scale(p);
  const float* xp = x.data();
  float* yp = y.data();
  float* mp = mask.data();
  const int64_t n = x.numel();
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i)
    yp[i] = ops::dropout_element(xp[i], p, scale, seed, uint64_t(i), &mp[i]);
}

void add_dropout_ops(BackendOps& t) {
  t.dropout_forward = dropout_forward;
}

}  // namespace useg::cpu
