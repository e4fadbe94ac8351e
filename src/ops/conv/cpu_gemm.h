// What the sgemm paths of the CPU convolutions share (cpu_pointwise.cpp, cpu_deconv_gemm.cpp):
// oneDNN's row-major sgemm with our error, and the bias gradient as per-channel sums.
#pragma once

#include <oneapi/dnnl/dnnl.h>

#include <cstdint>
#include <vector>

#include "cpu/reduce.h"
#include "useg/error.h"

namespace useg::cpu {

// Row-major C[M x N] = op(A) op(B) + beta * C through oneDNN's sgemm.
inline void sgemm(char ta, char tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                  const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  const dnnl_status_t st = dnnl_sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
  USEG_CHECK(st == dnnl_success, "convolution: oneDNN sgemm failed (status " << int(st)
                                     << ") for " << m << "x" << n << "x" << k);
}

// out[c] = sum over samples and positions of g, an [n, channels, positions] tensor
// (reduce_rows: the same bits for any number of threads).
inline void channel_sums(const float* g, int64_t n, int64_t channels, int64_t positions,
                         float* out) {
  std::vector<double> sums(static_cast<size_t>(channels));
  reduce_rows(channels, n, positions, 1, sums.data(),
              [&](int64_t c, int64_t s, int64_t begin, int64_t end, double* acc) {
                const float* row = g + (s * channels + c) * positions;
                lane_sums<1>(begin, end, acc, [&](int64_t i, double* t) { t[0] = row[i]; });
              });
  for (int64_t c = 0; c < channels; ++c) out[c] = static_cast<float>(sums[size_t(c)]);
}

}  // namespace useg::cpu
