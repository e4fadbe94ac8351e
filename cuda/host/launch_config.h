// Launch configurations of the custom kernels as plain host arithmetic. The launch wrappers in
// src/ops/*/kernels.cu compute their grids with these functions only, and
// tests/cuda/test_cuda_host.cpp checks them without a device.
#pragma once

#include <algorithm>
#include <cstdint>

namespace useg::gpu {

// Elementwise kernels are grid-stride loops: kBlockThreads threads per block and at most
// kMaxBlocks blocks (a few waves on the largest current GPUs); the loop covers the rest.
constexpr int kBlockThreads = 256;
constexpr int64_t kMaxBlocks = 16384;

// Blocks for n independent items; 0 when there is nothing to do (the wrapper then launches
// nothing: a grid of 0 blocks is an invalid configuration).
inline unsigned elementwise_blocks(int64_t n) {
  if (n <= 0) return 0;
  return unsigned(std::min<int64_t>((n + kBlockThreads - 1) / kBlockThreads, kMaxBlocks));
}

// Row reductions (norm statistics, losses, sum_squares, bias gradients): the elements of a row
// are cut into chunks of kReduceChunk; one block of kReduceThreads threads sums one chunk (each
// thread a fixed strided subset, then a shared-memory tree), and the chunk sums of a row are
// added in chunk order. The order of every addition is fixed by the shape alone, so results are
// deterministic on any GPU and under cudacpu.
constexpr int kReduceThreads = 256;  // a power of two (the tree halves it)
constexpr int64_t kReduceChunk = 8192;
constexpr int64_t kMaxGridX = 2147483647;  // gridDim.x limit

inline int64_t reduce_chunks(int64_t row_elements) {
  return std::max<int64_t>(1, (row_elements + kReduceChunk - 1) / kReduceChunk);
}
// One block per (row, chunk); the caller checks the result against kMaxGridX.
inline int64_t reduce_blocks(int64_t rows, int64_t row_elements) {
  return rows * reduce_chunks(row_elements);
}

}  // namespace useg::gpu
