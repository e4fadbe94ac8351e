// The deterministic row reduction every reducing op uses (norm statistics, bias gradients,
// sum_squares, loss terms). Block b sums chunk (b % chunks) of row (b / chunks): each thread
// accumulates the elements begin + t, begin + t + blockDim, ... of the chunk into K doubles,
// then block_sum adds the threads in a fixed tree. The chunk sums go to
// partials[(row * chunks + chunk) * k + j]; launch_row_totals (or the host) adds them in chunk
// order. Every addition's order is fixed by the shape, never by scheduling.
#pragma once

#include "cuda/kernel_util.cuh"
#include "useg/error.h"

namespace useg::gpu {

// term(row, offset, acc) adds element `offset` (= row * row_stride + segment * seg_stride + i) of
// row `row` into acc[0..k). K is the compile-time size of the per-thread accumulators, k <= K the
// number of terms actually used.
template <int K, class Term>
__global__ void row_reduce_kernel(RowLayout l, int64_t chunks, int k, Term term,
                                  double* partials) {
  __shared__ double scratch[kReduceThreads];
  const int64_t row = int64_t(blockIdx.x) / chunks, chunk = int64_t(blockIdx.x) % chunks;
  const int64_t count = l.segments * l.len;
  const int64_t begin = chunk * kReduceChunk;
  const int64_t end = count < begin + kReduceChunk ? count : begin + kReduceChunk;
  double acc[K];
  for (int j = 0; j < K; ++j) acc[j] = 0.0;
  for (int64_t e = begin + threadIdx.x; e < end; e += blockDim.x) {
    const int64_t seg = e / l.len, i = e % l.len;
    term(row, row * l.row_stride + seg * l.seg_stride + i, acc);
  }
  double* out = partials + (row * chunks + chunk) * k;
  for (int j = 0; j < k; ++j) {
    const double total = block_sum(acc[j], scratch);
    if (threadIdx.x == 0) out[j] = total;
  }
}

// Launches row_reduce_kernel<K> over every (row, chunk) of l with k terms per element.
template <int K, class Term>
void launch_row_reduce(const char* name, const RowLayout& l, int k, const Term& term,
                       double* partials, cudaStream_t stream) {
  if (l.rows <= 0 || l.row_elements() <= 0) return;
  const int64_t chunks = reduce_chunks(l.row_elements());
  const int64_t blocks = reduce_blocks(l.rows, l.row_elements());
  USEG_CHECK(blocks <= kMaxGridX, name << ": " << blocks << " reduction blocks exceed the grid "
                                       << "limit " << kMaxGridX);
  row_reduce_kernel<K, Term><<<unsigned(blocks), kReduceThreads, 0, stream>>>(l, chunks, k, term,
                                                                              partials);
  USEG_KERNEL_CHECK("row_reduce_kernel");
}

}  // namespace useg::gpu
