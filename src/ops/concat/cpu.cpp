// Channel concatenation and split on the CPU: row copies in the order of ops/concat/concat.h.
#include "ops/concat/concat.h"

#include <algorithm>

#include "cpu/cpu_backend.h"
#include "cpu/parallel.h"

namespace useg::cpu {

void concat_channels(BackendImpl& be, const Tensor& a, const Tensor& b, Tensor& y) {
  const Shape& sy = y.shape();
  const int64_t ca = a.shape().c(), cb = b.shape().c(), S = sy.spatial();
  const int64_t rows = sy.n() * sy.c();
  const float* ap = a.data();
  const float* bp = b.data();
  float* yp = y.data();
#pragma omp parallel for schedule(static) if (y.numel() >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    int64_t src = 0;
    const int from_b = ops::concat_source_row(r / sy.c(), r % sy.c(), ca, cb, &src);
    std::copy_n((from_b ? bp : ap) + src * S, S, yp + r * S);
  }
}

void split_channels(BackendImpl& be, const Tensor& y, Tensor& a, Tensor& b) {
  const Shape& sy = y.shape();
  const int64_t ca = a.shape().c(), cb = b.shape().c(), S = sy.spatial();
  const int64_t rows = sy.n() * sy.c();
  float* ap = a.data();
  float* bp = b.data();
  const float* yp = y.data();
#pragma omp parallel for schedule(static) if (y.numel() >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    int64_t dst = 0;
    const int to_b = ops::concat_source_row(r / sy.c(), r % sy.c(), ca, cb, &dst);
    std::copy_n(yp + r * S, S, (to_b ? bp : ap) + dst * S);
  }
}

void add_concat_ops(BackendOps& t) {
  t.concat_channels = concat_channels;
  t.split_channels = split_channels;
}

}  // namespace useg::cpu
