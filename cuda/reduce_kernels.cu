// The reductions of the norms, the bias gradients and sum_squares, as row_reduce_kernel terms
// over the math of ops/norm.h and ops/elementwise.h, and the in-order sum of chunk partials.
#include "ops/elementwise.h"
#include "ops/norm.h"
#include "row_reduce.cuh"

namespace useg::gpu {
namespace {

struct SumTerm {
  const float* x;
  __device__ void operator()(int64_t, int64_t off, double* acc) const { acc[0] += x[off]; }
};

struct SqDevTerm {
  const float* x;
  const double* mean;
  __device__ void operator()(int64_t row, int64_t off, double* acc) const {
    acc[0] += ops::norm_sq_dev(x[off], mean[row]);
  }
};

struct DyXhatTerm {
  const float* x;
  const float* dy;
  const float* mean;
  const float* invstd;
  __device__ void operator()(int64_t row, int64_t off, double* acc) const {
    acc[0] += dy[off];
    acc[1] += double(dy[off]) * double(ops::norm_xhat(x[off], mean[row], invstd[row]));
  }
};

struct SquareTerm {
  const float* x;
  __device__ void operator()(int64_t, int64_t off, double* acc) const {
    acc[0] += ops::square_element(x[off]);
  }
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

void launch_row_sq_dev(const float* x, const double* mean, const RowLayout& l, double* partials,
                       cudaStream_t s) {
  launch_row_reduce<1>("row_sq_dev", l, 1, SqDevTerm{x, mean}, partials, s);
}

void launch_row_dy_xhat(const float* x, const float* dy, const float* mean, const float* invstd,
                        const RowLayout& l, double* partials, cudaStream_t s) {
  launch_row_reduce<2>("row_dy_xhat", l, 2, DyXhatTerm{x, dy, mean, invstd}, partials, s);
}

void launch_sum_squares(const float* x, int64_t n, double* partials, cudaStream_t s) {
  const RowLayout l{1, 1, n, n, 0};
  launch_row_reduce<1>("sum_squares", l, 1, SquareTerm{x}, partials, s);
}

void launch_row_totals(const double* partials, int64_t rows, int64_t chunks, int k,
                       double* totals, float* out_float, cudaStream_t s) {
  if (rows <= 0) return;
  row_totals_kernel<<<elementwise_blocks(rows), kBlockThreads, 0, s>>>(partials, rows, chunks, k,
                                                                       totals, out_float);
  USEG_KERNEL_CHECK("row_totals_kernel");
}

}  // namespace useg::gpu
