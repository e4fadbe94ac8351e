// The convolution bias: y [N, C, S] += bias[c], one thread per element (ops::add_element). The
// bias gradient is a plain row sum (cuda/reduce_kernels.cu); the convolutions are cuDNN's.
#include "cuda/kernel_util.cuh"
#include "ops/conv/launch.h"
#include "ops/elementwise/elementwise.h"

namespace useg::gpu {
namespace {

__global__ void bias_add_kernel(float* y, const float* bias, int64_t total, int64_t c,
                                int64_t spatial) {
  USEG_GRID_STRIDE_LOOP(i, total) y[i] = ops::add_element(y[i], bias[(i / spatial) % c]);
}

}  // namespace

void launch_bias_add(float* y, const float* bias, int64_t n, int64_t c, int64_t spatial,
                     cudaStream_t s) {
  const int64_t total = n * c * spatial;
  if (total <= 0) return;
  bias_add_kernel<<<elementwise_blocks(total), kBlockThreads, 0, s>>>(y, bias, total, c, spatial);
  USEG_KERNEL_CHECK("bias_add_kernel");
}

}  // namespace useg::gpu
