// One thread per voxel: softmax and argmax over the channels (ops/softmax.h, ops/window.h), the
// sliding-window accumulation (ops::window_accumulate_voxel: every window voxel maps to its own
// volume voxel, so no atomics) and max pooling (ops/pool.h: forward per output voxel, backward
// gathers per input voxel in a fixed order, so no atomics and a deterministic dx).
#include "kernel_util.cuh"
#include "ops/pool.h"
#include "ops/softmax.h"
#include "ops/window.h"

namespace useg::gpu {
namespace {

// Voxel v of [N, C, S] starts at (v / S) * C * S + v % S; its channels are S apart.
__device__ inline int64_t voxel_base(int64_t v, int64_t c, int64_t spatial) {
  return (v / spatial) * c * spatial + v % spatial;
}

__global__ void softmax_kernel(const float* x, float* y, int64_t voxels, int c, int64_t spatial) {
  USEG_GRID_STRIDE_LOOP(v, voxels) {
    const int64_t base = voxel_base(v, c, spatial);
    ops::softmax_voxel(x + base, y + base, c, spatial);
  }
}

__global__ void argmax_kernel(const float* x, float* labels, int64_t voxels, int c,
                              int64_t spatial) {
  USEG_GRID_STRIDE_LOOP(v, voxels) {
    labels[v] = float(ops::argmax_voxel(x + voxel_base(v, c, spatial), c, spatial));
  }
}

// Item i enumerates the clipped window region in (i, j, k) order.
__global__ void window_kernel(const float* probs, const float* weight, WindowRegion r,
                              float* accum, float* weight_sum, int64_t items) {
  const int64_t nj = r.end[1] - r.begin[1], nk = r.end[2] - r.begin[2];
  const int64_t pstride = r.patch[0] * r.patch[1] * r.patch[2];
  const int64_t astride = r.volume[0] * r.volume[1] * r.volume[2];
  USEG_GRID_STRIDE_LOOP(it, items) {
    const int64_t i = r.begin[0] + it / (nj * nk), j = r.begin[1] + (it / nk) % nj;
    const int64_t k = r.begin[2] + it % nk;
    const int64_t w_idx = (i * r.patch[1] + j) * r.patch[2] + k;
    const int64_t v_idx = ((i + r.offset[0]) * r.volume[1] + (j + r.offset[1])) * r.volume[2] +
                          (k + r.offset[2]);
    ops::window_accumulate_voxel(probs + w_idx, pstride, r.channels, weight[w_idx], accum + v_idx,
                                 astride, weight_sum + v_idx);
  }
}

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

}  // namespace

void launch_softmax_channels(const float* x, float* y, int64_t n, int64_t c, int64_t spatial,
                             cudaStream_t s) {
  const int64_t voxels = n * spatial;
  if (voxels <= 0 || c <= 0) return;
  softmax_kernel<<<elementwise_blocks(voxels), kBlockThreads, 0, s>>>(x, y, voxels, int(c),
                                                                      spatial);
  USEG_KERNEL_CHECK("softmax_kernel");
}

void launch_argmax_channels(const float* x, float* labels, int64_t n, int64_t c, int64_t spatial,
                            cudaStream_t s) {
  const int64_t voxels = n * spatial;
  if (voxels <= 0) return;
  argmax_kernel<<<elementwise_blocks(voxels), kBlockThreads, 0, s>>>(x, labels, voxels, int(c),
                                                                     spatial);
  USEG_KERNEL_CHECK("argmax_kernel");
}

void launch_window_accumulate(const float* probs, const float* weight, const WindowRegion& r,
                              float* accum, float* weight_sum, cudaStream_t s) {
  int64_t items = 1;
  for (int a = 0; a < 3; ++a) items *= r.end[a] > r.begin[a] ? r.end[a] - r.begin[a] : 0;
  if (items <= 0) return;
  window_kernel<<<elementwise_blocks(items), kBlockThreads, 0, s>>>(probs, weight, r, accum,
                                                                    weight_sum, items);
  USEG_KERNEL_CHECK("window_kernel");
}

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

}  // namespace useg::gpu
