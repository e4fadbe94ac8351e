// The float <-> half / bfloat16 casts of the mixed-precision convolution path (CUDA's own
// conversion intrinsics): plain ones, and the ones the convolutions use, which also transpose
// NCDHW <-> NDHWC (ops::channels_last_source / channels_first_source) in the same pass.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cuda/kernel_util.cuh"
#include "ops/channels_last/channels_last.h"
#include "ops/channels_last/launch.h"

namespace useg::gpu {
namespace {

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
