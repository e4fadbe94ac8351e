// Data-movement kernels: channel concat/split (ops::concat_source_row), spatial flip
// (ops::flip_source_index), the convolution bias add (ops::add_element) and the float <-> half /
// bfloat16 casts of the mixed-precision convolution path (CUDA's own conversion intrinsics):
// plain ones, and the ones the convolutions use, which also transpose NCDHW <-> NDHWC
// (ops::channels_last_source / channels_first_source) in the same pass.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernel_util.cuh"
#include "ops/channels_last.h"
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

// The same conversions as above (round to nearest even; widening is exact), by element type.
__device__ inline __half narrow_rn(float v, __half*) { return __float2half_rn(v); }
__device__ inline __nv_bfloat16 narrow_rn(float v, __nv_bfloat16*) {
  return __float2bfloat16_rn(v);
}
__device__ inline float widen(__half v) { return __half2float(v); }
__device__ inline float widen(__nv_bfloat16 v) { return __bfloat162float(v); }

// y [N, S, C] (T = half or bfloat16) = x [N, C, S] (float32), rounded; a gather: one thread per
// channels-last element. total = N * C * S.
template <class T>
__global__ void to_channels_last_kernel(const float* x, T* y, int64_t total, int64_t c,
                                        int64_t spatial) {
  USEG_GRID_STRIDE_LOOP(j, total) {
    y[j] = narrow_rn(x[ops::channels_last_source(j, c, spatial)], static_cast<T*>(nullptr));
  }
}

// y [N, C, S] (float32) = x [N, S, C] (T): one thread per channels-first element.
template <class T>
__global__ void from_channels_last_kernel(const T* x, float* y, int64_t total, int64_t c,
                                          int64_t spatial) {
  USEG_GRID_STRIDE_LOOP(i, total) y[i] = widen(x[ops::channels_first_source(i, c, spatial)]);
}

template <class T>
void to_channels_last_as(const float* x, void* y, int64_t n, int64_t c, int64_t spatial,
                         cudaStream_t s) {
  const int64_t total = n * c * spatial;
  if (total <= 0) return;
  to_channels_last_kernel<T><<<elementwise_blocks(total), kBlockThreads, 0, s>>>(
      x, static_cast<T*>(y), total, c, spatial);
  USEG_KERNEL_CHECK("to_channels_last_kernel");
}

template <class T>
void from_channels_last_as(const void* x, float* y, int64_t n, int64_t c, int64_t spatial,
                           cudaStream_t s) {
  const int64_t total = n * c * spatial;
  if (total <= 0) return;
  from_channels_last_kernel<T><<<elementwise_blocks(total), kBlockThreads, 0, s>>>(
      static_cast<const T*>(x), y, total, c, spatial);
  USEG_KERNEL_CHECK("from_channels_last_kernel");
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

void launch_float_to_half_ndhwc(const float* x, void* y, int64_t n, int64_t c, int64_t spatial,
                                cudaStream_t s) {
  to_channels_last_as<__half>(x, y, n, c, spatial, s);
}

void launch_half_ndhwc_to_float(const void* x, float* y, int64_t n, int64_t c, int64_t spatial,
                                cudaStream_t s) {
  from_channels_last_as<__half>(x, y, n, c, spatial, s);
}

void launch_float_to_bf16_ndhwc(const float* x, void* y, int64_t n, int64_t c, int64_t spatial,
                                cudaStream_t s) {
  to_channels_last_as<__nv_bfloat16>(x, y, n, c, spatial, s);
}

void launch_bf16_ndhwc_to_float(const void* x, float* y, int64_t n, int64_t c, int64_t spatial,
                                cudaStream_t s) {
  from_channels_last_as<__nv_bfloat16>(x, y, n, c, spatial, s);
}

}  // namespace useg::gpu
