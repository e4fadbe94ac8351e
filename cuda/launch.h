// What every kernel launch wrapper shares: the stream type without a CUDA header, and the row
// reduction plumbing (cuda/reduce_kernels.cu, cuda/row_reduce.cuh) that the reducing ops build
// on. Each op declares its own launch wrappers next to its kernels, in src/ops/<op>/launch.h;
// a wrapper computes its grid, block and shared memory from cuda/host/launch_config.h, launches
// on `stream`, checks the launch, and launches nothing for an empty range. The CUDA backend and
// the cudacpu tests call the same wrappers, so the tests run the launch configurations the
// backend uses. Plain C++: no CUDA header is needed to include these files. Pointers are device
// pointers.
#pragma once

#include <cstdint>

struct CUstream_st;
typedef struct CUstream_st* cudaStream_t;  // as in CUDA's driver_types.h

namespace useg::gpu {

// Row r of a reduction is `segments` runs of `len` contiguous floats, run j starting at
// r * row_stride + j * seg_stride (instance norm: rows N*C, one run of D*H*W; batch norm and
// bias gradients: rows C, N runs). Partial sums are double, laid out
// partials[(r * chunks + chunk) * k + j] with chunks = reduce_chunks(segments * len) and k terms.
struct RowLayout {
  int64_t rows, segments, len, row_stride, seg_stride;
  int64_t row_elements() const { return segments * len; }
};
int64_t reduce_partials_size(const RowLayout& l, int k);  // number of doubles
// k = 1: the plain sum of every row (norm means, bias gradients).
void launch_row_sum(const float* x, const RowLayout& l, double* partials, cudaStream_t stream);
// totals[r * k + j] = sum over chunks in order (one thread per row); out_float (optional) gets
// float(totals) for k = 1.
void launch_row_totals(const double* partials, int64_t rows, int64_t chunks, int k,
                       double* totals, float* out_float, cudaStream_t stream);

}  // namespace useg::gpu
