// Data-movement kernels: channel concat/split (ops::concat_source_row), spatial flip
// (ops::flip_source_index), the convolution bias add (ops::add_element) and the float <-> half /
// bfloat16 casts of the mixed-precision convolution path (CUDA's own conversion intrinsics).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernel_util.cuh"
#include "ops/elementwise.h"
#include "ops/flip.h"

namespace useg::gpu {
namespace {

// Element i of y [N, Ca+Cb, S] comes from row src of a or b (concat); split writes it back.
__global__ void concat_kernel(const float* a, const float* b, float* y, int64_t total, int64_t ca,
                              int64_t cb, int64_t spatial) {
  const int64_t c = ca + cb;
  USEG_GRID_STRIDE_LOOP(i, total) {
    const int64_t r = i / spatial, v = i % spatial;
    int64_t src = 0;
    const int from_b = ops::concat_source_row(r / c, r % c, ca, cb, &src);
    y[i] = (from_b ? b : a)[src * spatial + v];
  }
}

__global__ void split_kernel(const float* y, float* a, float* b, int64_t total, int64_t ca,
                             int64_t cb, int64_t spatial) {
  const int64_t c = ca + cb;
  USEG_GRID_STRIDE_LOOP(i, total) {
    const int64_t r = i / spatial, v = i % spatial;
    int64_t dst = 0;
    const int to_b = ops::concat_source_row(r / c, r % c, ca, cb, &dst);
    (to_b ? b : a)[dst * spatial + v] = y[i];
  }
}

__global__ void flip_kernel(const float* x, float* y, int64_t numel, int64_t d, int64_t h,
                            int64_t w, int axes) {
  USEG_GRID_STRIDE_LOOP(i, numel) y[i] = x[ops::flip_source_index(i, d, h, w, axes)];
}

__global__ void bias_add_kernel(float* y, const float* bias, int64_t total, int64_t c,
                                int64_t spatial) {
  USEG_GRID_STRIDE_LOOP(i, total) y[i] = ops::add_element(y[i], bias[(i / spatial) % c]);
}

__global__ void float_to_half_kernel(const float* x, __half* y, int64_t n) {
  USEG_GRID_STRIDE_LOOP(i, n) y[i] = __float2half_rn(x[i]);
}
__global__ void half_to_float_kernel(const __half* x, float* y, int64_t n) {
  USEG_GRID_STRIDE_LOOP(i, n) y[i] = __half2float(x[i]);
}
__global__ void float_to_bf16_kernel(const float* x, __nv_bfloat16* y, int64_t n) {
  USEG_GRID_STRIDE_LOOP(i, n) y[i] = __float2bfloat16_rn(x[i]);
}
__global__ void bf16_to_float_kernel(const __nv_bfloat16* x, float* y, int64_t n) {
  USEG_GRID_STRIDE_LOOP(i, n) y[i] = __bfloat162float(x[i]);
}

}  // namespace

void launch_concat_channels(const float* a, const float* b, float* y, int64_t n, int64_t ca,
                            int64_t cb, int64_t spatial, cudaStream_t s) {
  const int64_t total = n * (ca + cb) * spatial;
  if (total <= 0) return;
  concat_kernel<<<elementwise_blocks(total), kBlockThreads, 0, s>>>(a, b, y, total, ca, cb,
                                                                    spatial);
  USEG_KERNEL_CHECK("concat_kernel");
}

void launch_split_channels(const float* y, float* a, float* b, int64_t n, int64_t ca, int64_t cb,
                           int64_t spatial, cudaStream_t s) {
  const int64_t total = n * (ca + cb) * spatial;
  if (total <= 0) return;
  split_kernel<<<elementwise_blocks(total), kBlockThreads, 0, s>>>(y, a, b, total, ca, cb,
                                                                   spatial);
  USEG_KERNEL_CHECK("split_kernel");
}

void launch_flip_spatial(const float* x, float* y, int64_t numel, int64_t d, int64_t h,
                         int64_t w, int axes, cudaStream_t s) {
  if (numel <= 0) return;
  flip_kernel<<<elementwise_blocks(numel), kBlockThreads, 0, s>>>(x, y, numel, d, h, w, axes);
  USEG_KERNEL_CHECK("flip_kernel");
}

void launch_bias_add(float* y, const float* bias, int64_t n, int64_t c, int64_t spatial,
                     cudaStream_t s) {
  const int64_t total = n * c * spatial;
  if (total <= 0) return;
  bias_add_kernel<<<elementwise_blocks(total), kBlockThreads, 0, s>>>(y, bias, total, c, spatial);
  USEG_KERNEL_CHECK("bias_add_kernel");
}

void launch_float_to_half(const float* x, void* y, int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  float_to_half_kernel<<<elementwise_blocks(n), kBlockThreads, 0, s>>>(
      x, static_cast<__half*>(y), n);
  USEG_KERNEL_CHECK("float_to_half_kernel");
}

void launch_half_to_float(const void* x, float* y, int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  half_to_float_kernel<<<elementwise_blocks(n), kBlockThreads, 0, s>>>(
      static_cast<const __half*>(x), y, n);
  USEG_KERNEL_CHECK("half_to_float_kernel");
}

void launch_float_to_bf16(const float* x, void* y, int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  float_to_bf16_kernel<<<elementwise_blocks(n), kBlockThreads, 0, s>>>(
      x, static_cast<__nv_bfloat16*>(y), n);
  USEG_KERNEL_CHECK("float_to_bf16_kernel");
}

void launch_bf16_to_float(const void* x, float* y, int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  bf16_to_float_kernel<<<elementwise_blocks(n), kBlockThreads, 0, s>>>(
      static_cast<const __nv_bfloat16*>(x), y, n);
  USEG_KERNEL_CHECK("bf16_to_float_kernel");
}

}  // namespace useg::gpu
