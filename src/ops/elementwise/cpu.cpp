// Elementwise arithmetic on the CPU: OpenMP loops over ops/elementwise/elementwise.h, and the
// two reductions to a host value (sum_squares in fixed chunks, so it does not depend on the
// thread count; all_finite).
#include "ops/elementwise/elementwise.h"

#include <cstring>

#include "cpu/cpu_backend.h"
#include "cpu/parallel.h"
#include "cpu/reduce.h"

namespace useg::cpu {

void fill(BackendImpl& be, Tensor& t, float value) {
  float* p = t.data();
  const int64_t n = t.numel();
#pragma omp parallel for simd schedule(static) if (parallel : n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) p[i] = value;
}

void copy(BackendImpl& be, const Tensor& src, Tensor& dst) {
  if (src.data() != dst.data()) std::memmove(dst.data(), src.data(), src.bytes());
}

void add(BackendImpl& be, const Tensor& a, const Tensor& b, Tensor& y) {
  const float* ap = a.data();
  const float* bp = b.data();
  float* yp = y.data();
  const int64_t n = a.numel();
#pragma omp parallel for simd schedule(static) if (parallel : n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) yp[i] = ops::add_element(ap[i], bp[i]);
}

void axpy(BackendImpl& be, float alpha, const Tensor& x, Tensor& y) {
  const float* xp = x.data();
  float* yp = y.data();
  const int64_t n = x.numel();
#pragma omp parallel for simd schedule(static) if (parallel : n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) yp[i] = ops::axpy_element(alpha, xp[i], yp[i]);
}

void scale(BackendImpl& be, Tensor& x, float s) {
  float* p = x.data();
  const int64_t n = x.numel();
#pragma omp parallel for simd schedule(static) if (parallel : n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) p[i] = ops::scale_element(p[i], s);
}

void mul(BackendImpl& be, const Tensor& a, const Tensor& b, Tensor& y) {
  const float* ap = a.data();
  const float* bp = b.data();
  float* yp = y.data();
  const int64_t n = a.numel();
#pragma omp parallel for simd schedule(static) if (parallel : n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) yp[i] = ops::mul_element(ap[i], bp[i]);
}

double sum_squares(BackendImpl& be, const Tensor& x) {
  const float* p = x.data();
  double out = 0.0;
  reduce_rows(1, 1, x.numel(), 1, &out, [&](int64_t, int64_t, int64_t b, int64_t e, double* acc) {
    double s = 0.0;
    for (int64_t i = b; i < e; ++i) s += ops::square_element(p[i]);
    acc[0] = s;
  });
  return out;
}

bool all_finite(BackendImpl& be, const Tensor& x) {
  const float* p = x.data();
  const int64_t n = x.numel();
  bool ok = true;
#pragma omp parallel for schedule(static) reduction(&& : ok) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) ok = ok && ops::is_finite_element(p[i]);
  return ok;
}

void add_elementwise_ops(BackendOps& t) {
  t.fill = fill;
  t.copy = copy;
  t.add = add;
  t.axpy = axpy;
  t.scale = scale;
  t.mul = mul;
  t.sum_squares = sum_squares;
  t.all_finite = all_finite;
}

}  // namespace useg::cpu
