// The plumbing of every row reduction: the plain row sum (norm means, bias gradients) as a
// row_reduce_kernel term, and the in-order sum of the chunk partials. The ops' own terms live
// with their kernels (src/ops/norm/kernels.cu, src/ops/loss/kernels.cu, ...).
#include "cuda/row_reduce.cuh"

namespace useg::gpu {
namespace {

struct SumTerm {
  const float* x;
  __device__ void operator()(int64_t, int64_t off, double* acc) const { acc[0] += x[off]; }
};

// One thread per row: the chunk partials added in chunk order.
__global__ void row_totals_kernel(const double* partials, int64_t rows, int64_t chunks, int k,
                                  double* totals, float* out_float) {
  USEG_GRID_STRIDE_LOOP(r, rows) {
    for (int j = 0; j < k; ++j) {
      double s = 0.0;
      for (int64_t ch = 0; ch < chunks; ++ch) s += partials[(r * chunks + ch) * k + j];
      if (totals) totals[r * k + j] = s;
      if (out_float) out_float[r * k + j] = float(s);
    }
  }
}

}  // namespace

int64_t reduce_partials_size(const RowLayout& l, int k) {
  return l.rows * reduce_chunks(l.row_elements()) * k;
}

void launch_row_sum(const float* x, const RowLayout& l, double* partials, cudaStream_t s) {
  launch_row_reduce<1>("row_sum", l, 1, SumTerm{x}, partials, s);
}

void launch_row_totals(const double* partials, int64_t rows, int64_t chunks, int k,
                       double* totals, float* out_float, cudaStream_t s) {
  if (rows <= 0) return;
  row_totals_kernel<<<elementwise_blocks(rows), kBlockThreads, 0, s>>>(partials, rows, chunks, k,
                                                                       totals, out_float);
  USEG_KERNEL_CHECK("row_totals_kernel");
}

}  // namespace useg::gpu
