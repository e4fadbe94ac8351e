// Sliding-window inference kernels: the window accumulation (ops::window_accumulate_voxel: every
// window voxel maps to its own volume voxel, so one thread per voxel needs no atomics), the
// per-voxel argmax (ops::argmax_voxel) and the spatial flip (ops::flip_source_index).
#include "cuda/kernel_util.cuh"
#include "ops/window/flip.h"
#include "ops/window/launch.h"
#include "ops/window/window.h"

namespace useg::gpu {
namespace {

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

// Voxel v of [N, C, S] starts at (v / S) * C * S + v % S; its channels are S apart.
__global__ void argmax_kernel(const float* x, float* labels, int64_t voxels, int c,
                              int64_t spatial) {
  USEG_GRID_STRIDE_LOOP(v, voxels) {
    const int64_t base = (v / spatial) * c * spatial + v % spatial;
    labels[v] = float(ops::argmax_voxel(x + base, c, spatial));
  }
}

__global__ void flip_kernel(const float* x, float* y, int64_t numel, int64_t d, int64_t h,
                            int64_t w, int axes) {
  USEG_GRID_STRIDE_LOOP(i, numel) y[i] = x[ops::flip_source_index(i, d, h, w, axes)];
}

}  // namespace

void launch_window_accumulate(const float* probs, const float* weight, const WindowRegion& r,
                              float* accum, float* weight_sum, cudaStream_t s) {
  int64_t items = 1;
  for (int a = 0; a < 3; ++a) items *= r.end[a] > r.begin[a] ? r.end[a] - r.begin[a] : 0;
  if (items <= 0) return;
  window_kernel<<<elementwise_blocks(items), kBlockThreads, 0, s>>>(probs, weight, r, accum,
                                                                    weight_sum, items);
  USEG_KERNEL_CHECK("window_kernel");
}

void launch_argmax_channels(const float* x, float* labels, int64_t n, int64_t c, int64_t spatial,
                            cudaStream_t s) {
  const int64_t voxels = n * spatial;
  if (voxels <= 0) return;
  argmax_kernel<<<elementwise_blocks(voxels), kBlockThreads, 0, s>>>(x, labels, voxels, int(c),
                                                                     spatial);
  USEG_KERNEL_CHECK("argmax_kernel");
}

void launch_flip_spatial(const float* x, float* y, int64_t numel, int64_t d, int64_t h,
                         int64_t w, int axes, cudaStream_t s) {
  if (numel <= 0) return;
  flip_kernel<<<elementwise_blocks(numel), kBlockThreads, 0, s>>>(x, y, numel, d, h, w, axes);
  USEG_KERNEL_CHECK("flip_kernel");
}

}  // namespace useg::gpu
