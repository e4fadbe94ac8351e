// Softmax over the channels: one thread per voxel, ops::softmax_voxel.
#include "cuda/kernel_util.cuh"
#include "ops/softmax/launch.h"
#include "ops/softmax/softmax.h"

namespace useg::gpu {
namespace {

// Voxel v of [N, C, S] starts at (v / S) * C * S + v % S; its channels are S apart.
__global__ void softmax_kernel(const float* x, float* y, int64_t voxels, int c, int64_t spatial) {
  USEG_GRID_STRIDE_LOOP(v, voxels) {
    const int64_t base = (v / spatial) * c * spatial + v % spatial;
    ops::softmax_voxel(x + base, y + base, c, spatial);
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

}  // namespace useg::gpu
