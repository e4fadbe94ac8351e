// Elementwise kernels: one grid-stride loop per op over ops/elementwise/elementwise.h, and
// sum_squares as a row_reduce_kernel term. No arithmetic of their own.
#include "cuda/row_reduce.cuh"
#include "ops/elementwise/elementwise.h"
#include "ops/elementwise/launch.h"

namespace useg::gpu {
namespace {

__global__ void fill_kernel(float* y, int64_t n, float value) {
  USEG_GRID_STRIDE_LOOP(i, n) y[i] = value;
}

__global__ void add_kernel(const float* a, const float* b, float* y, int64_t n) {
  USEG_GRID_STRIDE_LOOP(i, n) y[i] = ops::add_element(a[i], b[i]);
}

__global__ void mul_kernel(const float* a, const float* b, float* y, int64_t n) {
  USEG_GRID_STRIDE_LOOP(i, n) y[i] = ops::mul_element(a[i], b[i]);
}

__global__ void axpy_kernel(float alpha, const float* x, float* y, int64_t n) {
  USEG_GRID_STRIDE_LOOP(i, n) y[i] = ops::axpy_element(alpha, x[i], y[i]);
}

__global__ void scale_kernel(float* x, float s, int64_t n) {
  USEG_GRID_STRIDE_LOOP(i, n) x[i] = ops::scale_element(x[i], s);
}

// Any thread seeing a non-finite value sets the flag; the result does not depend on which.
__global__ void find_nonfinite_kernel(const float* x, int64_t n, unsigned* flag) {
  USEG_GRID_STRIDE_LOOP(i, n) {
    if (!ops::is_finite_element(x[i])) atomicOr(flag, 1u);
  }
}

struct SquareTerm {
  const float* x;
  __device__ void operator()(int64_t, int64_t off, double* acc) const {
    acc[0] += ops::square_element(x[off]);
  }
};

}  // namespace

void launch_fill(float* y, int64_t n, float value, cudaStream_t s) {
  if (n <= 0) return;
  fill_kernel<<<elementwise_blocks(n), kBlockThreads, 0, s>>>(y, n, value);
  USEG_KERNEL_CHECK("fill_kernel");
}

void launch_add(const float* a, const float* b, float* y, int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  add_kernel<<<elementwise_blocks(n), kBlockThreads, 0, s>>>(a, b, y, n);
  USEG_KERNEL_CHECK("add_kernel");
}

void launch_mul(const float* a, const float* b, float* y, int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  mul_kernel<<<elementwise_blocks(n), kBlockThreads, 0, s>>>(a, b, y, n);
  USEG_KERNEL_CHECK("mul_kernel");
}

void launch_axpy(float alpha, const float* x, float* y, int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  axpy_kernel<<<elementwise_blocks(n), kBlockThreads, 0, s>>>(alpha, x, y, n);
  USEG_KERNEL_CHECK("axpy_kernel");
}

void launch_scale(float* x, float factor, int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  scale_kernel<<<elementwise_blocks(n), kBlockThreads, 0, s>>>(x, factor, n);
  USEG_KERNEL_CHECK("scale_kernel");
}

void launch_find_nonfinite(const float* x, int64_t n, unsigned* flag, cudaStream_t s) {
  if (n <= 0) return;
  find_nonfinite_kernel<<<elementwise_blocks(n), kBlockThreads, 0, s>>>(x, n, flag);
  USEG_KERNEL_CHECK("find_nonfinite_kernel");
}

void launch_sum_squares(const float* x, int64_t n, double* partials, cudaStream_t s) {
  const RowLayout l{1, 1, n, n, 0};
  launch_row_reduce<1>("sum_squares", l, 1, SquareTerm{x}, partials, s);
}

}  // namespace useg::gpu
