// Channel concat/split kernels: one thread per element of y, its source row from
// ops::concat_source_row.
#include "cuda/kernel_util.cuh"
#include "ops/concat/concat.h"
#include "ops/concat/launch.h"

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

}  // namespace useg::gpu
