// Optimizer kernels: one grid-stride loop each over the per-element updates of
// ops/optim/optim.h (the per-step scalars come from the host).
#include "cuda/kernel_util.cuh"
#include "ops/optim/launch.h"
#include "ops/optim/optim.h"

namespace useg::gpu {
namespace {

__global__ void sgd_kernel(float* p, const float* g, float* buf, int64_t n, ops::SgdCoefs k) {
  USEG_GRID_STRIDE_LOOP(i, n) ops::sgd_update_element(p + i, g[i], buf ? buf + i : nullptr, k);
}

__global__ void adam_kernel(float* p, const float* g, float* m, float* v, int64_t n,
                            ops::AdamCoefs k) {
  USEG_GRID_STRIDE_LOOP(i, n) ops::adam_update_element(p + i, g[i], m + i, v + i, k);
}

}  // namespace

void launch_sgd_update(float* param, const float* grad, float* momentum_buf, int64_t n,
                       const ops::SgdCoefs& k, cudaStream_t s) {
  if (n <= 0) return;
  sgd_kernel<<<elementwise_blocks(n), kBlockThreads, 0, s>>>(param, grad, momentum_buf, n, k);
  USEG_KERNEL_CHECK("sgd_kernel");
}

void launch_adam_update(float* param, const float* grad, float* m, float* v, int64_t n,
                        const ops::AdamCoefs& k, cudaStream_t s) {
  if (n <= 0) return;
  adam_kernel<<<elementwise_blocks(n), kBlockThreads, 0, s>>>(param, grad, m, v, n, k);
  USEG_KERNEL_CHECK("adam_kernel");
}

}  // namespace useg::gpu
