// Global average pooling kernels: the per-row mean from the row reduction's double totals, and
// the gradient's broadcast (ops/global_pool.h). No arithmetic of their own.
#include "cuda/kernel_util.cuh"
#include "ops/global_pool/launch.h"
#include "ops/global_pool/global_pool.h"

namespace useg::gpu {
namespace {

__global__ void global_avg_finish_kernel(const double* totals, int64_t rows, int64_t count,
                                         float* y) {
  USEG_GRID_STRIDE_LOOP(r, rows) y[r] = ops::global_avg_value(totals[r], count);
}

__global__ void global_avg_backward_kernel(const float* dy, int64_t rows, int64_t count,
                                           float* dx) {
  USEG_GRID_STRIDE_LOOP(i, rows * count) dx[i] = ops::global_avg_grad(dy[i / count], count);
}

}  // namespace

void launch_global_avg_finish(const double* totals, int64_t rows, int64_t count, float* y,
                              cudaStream_t s) {
  if (rows <= 0) return;
  global_avg_finish_kernel<<<elementwise_blocks(rows), kBlockThreads, 0, s>>>(totals, rows, count,
                                                                             y);
  USEG_KERNEL_CHECK("global_avg_finish_kernel");
}

void launch_global_avg_backward(const float* dy, int64_t rows, int64_t count, float* dx,
                                cudaStream_t s) {
  if (rows * count <= 0) return;
  global_avg_backward_kernel<<<elementwise_blocks(rows * count), kBlockThreads, 0, s>>>(
      dy, rows, count, dx);
  USEG_KERNEL_CHECK("global_avg_backward_kernel");
}

}  // namespace useg::gpu
