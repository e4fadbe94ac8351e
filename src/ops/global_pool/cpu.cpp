// Global average pooling on the CPU: one row of D*H*W values per (n, c), summed in double in
// order (ops/global_pool.h), and the gradient's broadcast back over the row.
#include "ops/global_pool/global_pool.h"

#include "cpu/cpu_backend.h"
#include "cpu/parallel.h"

namespace useg::cpu {

void global_avg_pool_forward(BackendImpl&, const Tensor& x, Tensor& y) {
  const int64_t rows = x.shape().n() * x.shape().c(), count = x.shape().spatial();
  const float* xp = x.data();
  float* yp = y.data();
#pragma omp parallel for schedule(static) if (rows * count >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    double sum = 0;
    for (int64_t i = 0; i < count; ++i) sum += xp[r * count + i];
    yp[r] = ops::global_avg_value(sum, count);
  }
}

void global_avg_pool_backward(BackendImpl&, const Tensor& dy, Tensor& dx) {
  const int64_t rows = dx.shape().n() * dx.shape().c(), count = dx.shape().spatial();
  const float* g = dy.data();
  float* out = dx.data();
#pragma omp parallel for schedule(static) if (rows * count >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float v = ops::global_avg_grad(g[r], count);
    for (int64_t i = 0; i < count; ++i) out[r * count + i] = v;
  }
}

void add_global_pool_ops(BackendOps& t) {
  t.global_avg_pool_forward = global_avg_pool_forward;
  t.global_avg_pool_backward = global_avg_pool_backward;
}

}  // namespace useg::cpu
