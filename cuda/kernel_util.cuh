// Shared pieces of the kernel files (src/ops/*/kernels.cu): the grid-stride loop and the
// fixed-order block sum. Kernel files include cuda/*.cuh as "cuda/...": under cudacpu,
// tests/cudacpu/CMakeLists.txt puts cucpu-rewritten copies of them first on the include path.
#pragma once

#include <cstdint>

#include "cuda/cuda_check.h"
#include "cuda/host/launch_config.h"
#include "cuda/launch.h"

// for (i = this thread's first item; i < n; i += all threads of the grid)
#define USEG_GRID_STRIDE_LOOP(i, n)                                                      \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < int64_t(n);     \
       i += int64_t(blockDim.x) * gridDim.x)

namespace useg::gpu {

// Sum of v over the block's threads, in a fixed tree order (thread t adds t + s for s = half the
// block, then a quarter, ...), so the result depends only on the inputs and the block size.
// `scratch` holds blockDim.x doubles (a power of two). Every thread must call it; every thread
// gets the sum. The last barrier lets the caller reuse scratch right away.
__device__ inline double block_sum(double v, double* scratch) {
  const unsigned t = threadIdx.x;
  scratch[t] = v;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s /= 2) {
    if (t < s) scratch[t] += scratch[t + s];
    __syncthreads();
  }
  const double total = scratch[0];
  __syncthreads();
  return total;
}

}  // namespace useg::gpu
