// Max and average pooling kernels over ops/pool/pool.h: forward one thread per output voxel, backward one
// thread per input voxel gathering its windows in a fixed order (no atomics, a deterministic
// dx that goes to the first maximum, as backend.h specifies).
#include "cuda/kernel_util.cuh"
#include "ops/pool/launch.h"
#include "ops/pool/pool.h"

namespace useg::gpu {
namespace {

__global__ void maxpool_forward_kernel(const float* x, float* y, int64_t total, ops::PoolDims p) {
  const int64_t in_plane = p.in[0] * p.in[1] * p.in[2];
  const int64_t out_plane = p.out[0] * p.out[1] * p.out[2];
  USEG_GRID_STRIDE_LOOP(i, total) {
    const int64_t plane = i / out_plane, o = i % out_plane;
    const int64_t ow = o % p.out[2], oh = (o / p.out[2]) % p.out[1], od = o / (p.out[2] * p.out[1]);
    const float* xp = x + plane * in_plane;
    y[i] = xp[ops::maxpool_argmax(xp, p, od, oh, ow)];
  }
}

__global__ void maxpool_backward_kernel(const float* x, const float* dy, float* dx, int64_t total,
                                        ops::PoolDims p) {
  const int64_t in_plane = p.in[0] * p.in[1] * p.in[2];
  const int64_t out_plane = p.out[0] * p.out[1] * p.out[2];
  USEG_GRID_STRIDE_LOOP(i, total) {
    const int64_t plane = i / in_plane, v = i % in_plane;
    const int64_t w = v % p.in[2], h = (v / p.in[2]) % p.in[1], d = v / (p.in[2] * p.in[1]);
    dx[i] = ops::maxpool_backward_voxel(x + plane * in_plane, dy + plane * out_plane, p, d, h, w);
  }
}

__global__ void maxpool_offsets_kernel(const float* x, uint8_t* offsets, int64_t total,
                                       ops::PoolDims p) {
  const int64_t in_plane = p.in[0] * p.in[1] * p.in[2];
  const int64_t out_plane = p.out[0] * p.out[1] * p.out[2];
  USEG_GRID_STRIDE_LOOP(i, total) {
    const int64_t plane = i / out_plane, o = i % out_plane;
    const int64_t ow = o % p.out[2], oh = (o / p.out[2]) % p.out[1], od = o / (p.out[2] * p.out[1]);
    offsets[i] = uint8_t(ops::maxpool_argmax_offset(x + plane * in_plane, p, od, oh, ow));
  }
}

__global__ void maxpool_backward_offsets_kernel(const uint8_t* offsets, const float* dy, float* dx,
                                                int64_t total, ops::PoolDims p) {
  const int64_t in_plane = p.in[0] * p.in[1] * p.in[2];
  const int64_t out_plane = p.out[0] * p.out[1] * p.out[2];
  USEG_GRID_STRIDE_LOOP(i, total) {
    const int64_t plane = i / in_plane, v = i % in_plane;
    const int64_t w = v % p.in[2], h = (v / p.in[2]) % p.in[1], d = v / (p.in[2] * p.in[1]);
    dx[i] = ops::maxpool_backward_voxel_from_offsets(offsets + plane * out_plane,
                                                     dy + plane * out_plane, p, d, h, w);
  }
}

__global__ void avgpool_forward_kernel(const float* x, float* y, int64_t total, ops::PoolDims p) {
  const int64_t in_plane = p.in[0] * p.in[1] * p.in[2];
  const int64_t out_plane = p.out[0] * p.out[1] * p.out[2];
  USEG_GRID_STRIDE_LOOP(i, total) {
    const int64_t plane = i / out_plane, o = i % out_plane;
    const int64_t ow = o % p.out[2], oh = (o / p.out[2]) % p.out[1], od = o / (p.out[2] * p.out[1]);
    y[i] = ops::avgpool_window_mean(x + plane * in_plane, p, od, oh, ow);
  }
}

// One thread per input voxel gathering its windows' dy: no atomics, deterministic.
__global__ void avgpool_backward_kernel(const float* dy, float* dx, int64_t total,
                                        ops::PoolDims p) {
  const int64_t in_plane = p.in[0] * p.in[1] * p.in[2];
  const int64_t out_plane = p.out[0] * p.out[1] * p.out[2];
  USEG_GRID_STRIDE_LOOP(i, total) {
    const int64_t plane = i / in_plane, v = i % in_plane;
    const int64_t w = v % p.in[2], h = (v / p.in[2]) % p.in[1], d = v / (p.in[2] * p.in[1]);
    dx[i] = ops::avgpool_backward_voxel(dy + plane * out_plane, p, d, h, w);
  }
}

}  // namespace

void launch_maxpool_forward(const float* x, float* y, int64_t planes, const ops::PoolDims& p,
                            cudaStream_t s) {
  const int64_t total = planes * p.out[0] * p.out[1] * p.out[2];
  if (total <= 0) return;
  maxpool_forward_kernel<<<elementwise_blocks(total), kBlockThreads, 0, s>>>(x, y, total, p);
  USEG_KERNEL_CHECK("maxpool_forward_kernel");
}

void launch_maxpool_backward(const float* x, const float* dy, float* dx, int64_t planes,
                             const ops::PoolDims& p, cudaStream_t s) {
  const int64_t total = planes * p.in[0] * p.in[1] * p.in[2];
  if (total <= 0) return;
  maxpool_backward_kernel<<<elementwise_blocks(total), kBlockThreads, 0, s>>>(x, dy, dx, total,
                                                                              p);
  USEG_KERNEL_CHECK("maxpool_backward_kernel");
}

void launch_maxpool_offsets(const float* x, uint8_t* offsets, int64_t planes,
                            const ops::PoolDims& p, cudaStream_t s) {
  const int64_t total = planes * p.out[0] * p.out[1] * p.out[2];
  if (total <= 0) return;
  maxpool_offsets_kernel<<<elementwise_blocks(total), kBlockThreads, 0, s>>>(x, offsets, total, p);
  USEG_KERNEL_CHECK("maxpool_offsets_kernel");
}

void launch_maxpool_backward_offsets(const uint8_t* offsets, const float* dy, float* dx,
                                     int64_t planes, const ops::PoolDims& p, cudaStream_t s) {
  const int64_t total = planes * p.in[0] * p.in[1] * p.in[2];
  if (total <= 0) return;
  maxpool_backward_offsets_kernel<<<elementwise_blocks(total), kBlockThreads, 0, s>>>(
      offsets, dy, dx, total, p);
  USEG_KERNEL_CHECK("maxpool_backward_offsets_kernel");
}

void launch_avgpool_forward(const float* x, float* y, int64_t planes, const ops::PoolDims& p,
                            cudaStream_t s) {
  const int64_t total = planes * p.out[0] * p.out[1] * p.out[2];
  if (total <= 0) return;
  avgpool_forward_kernel<<<elementwise_blocks(total), kBlockThreads, 0, s>>>(x, y, total, p);
  USEG_KERNEL_CHECK("avgpool_forward_kernel");
}

void launch_avgpool_backward(const float* dy, float* dx, int64_t planes, const ops::PoolDims& p,
                             cudaStream_t s) {
  const int64_t total = planes * p.in[0] * p.in[1] * p.in[2];
  if (total <= 0) return;
  avgpool_backward_kernel<<<elementwise_blocks(total), kBlockThreads, 0, s>>>(dy, dx, total, p);
  USEG_KERNEL_CHECK("avgpool_backward_kernel");
}

}  // namespace useg::gpu
