// The dropout kernel: a grid-stride loop over ops/dropout/dropout.h (mask and output of each
// element from its index, so the mask is the CPU backend's bit for bit).
#include "cuda/kernel_util.cuh"
#include "ops/dropout/dropout.h"
#include "ops/dropout/launch.h"

namespace useg::gpu {
namespace {

__global__ void dropout_kernel(const float* x, float p, float scale, uint64_t seed, float* y,
                               float* mask, int64_t n) {
  USEG_GRID_STRIDE_LOOP(i, n) {
    y[i] = ops::dropout_element(x[i], p, scale, seed, uint64_t(i), &mask[i]);
  }
}

}  // namespace

void launch_dropout(const float* x, float p, uint64_t seed, float* y, float* mask, int64_t n,
                    cudaStream_t s) {
  if (n <= 0) return;
  const float scale = ops::dropout_scale(p);
  dropout_kernel<<<elementwise_blocks(n), kBlockThreads, 0, s>>>(x, p, scale, seed, y, mask, n);
  USEG_KERNEL_CHECK("dropout_kernel");
}

}  // namespace useg::gpu
