// Deterministic parallel reductions for the CPU ops.
//
// A reduction has `rows` independent results (one per (n, c) for instance norm, per channel for
// batch norm, per sample for the losses), each a sum of K terms. Row r is made of `segments`
// runs of `len` elements (batch norm: channel c of each of the N samples). Every run is cut
// into chunks of kReduceChunk elements; one chunk is summed sequentially in double by one thread,
// then the chunks of a row are added in index order. The result depends only on the data and
// kReduceChunk, never on the number of threads, so two runs give bit-identical sums.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "cpu/parallel.h"

namespace useg::cpu {

constexpr int64_t kReduceChunk = 4096;

// Inside a chunk: the sums of K terms over [begin, end) with kReduceLanes independent double
// accumulators per term (element begin + j feeds lane j % kReduceLanes), the lanes then added in
// lane order. A single running double sum is bound by the add's latency (~4 cycles per element);
// eight lanes let the adds overlap and vectorize, and the order is still fixed by the data's
// position alone, so results stay bit-identical from run to run and across thread counts.
// term(i, t) writes the K terms of element i into t[0..K).
constexpr int kReduceLanes = 8;

template <int K, class Term>
void lane_sums(int64_t begin, int64_t end, double* acc, Term term) {
  double lanes[K][kReduceLanes] = {};
  int64_t i = begin;
  for (; i + kReduceLanes <= end; i += kReduceLanes)
    for (int l = 0; l < kReduceLanes; ++l) {
      double t[K];
      term(i + l, t);
      for (int k = 0; k < K; ++k) lanes[k][l] += t[k];
    }
  for (int l = 0; i < end; ++i, ++l) {
    double t[K];
    term(i, t);
    for (int k = 0; k < K; ++k) lanes[k][l] += t[k];
  }
  for (int k = 0; k < K; ++k) {
    double s = 0.0;
    for (int l = 0; l < kReduceLanes; ++l) s += lanes[k][l];
    acc[k] += s;
  }
}

// visit(row, segment, begin, end, acc) adds the terms of elements [begin, end) of that run into
// acc[0..K) (zero on entry). out receives rows * K sums. visit must not throw.
template <class Visit>
void reduce_rows(int64_t rows, int64_t segments, int64_t len, int k, double* out, Visit visit) {
  const int64_t chunks = (len + kReduceChunk - 1) / kReduceChunk;
  const int64_t per_row = segments * chunks;
  const int64_t items = rows * per_row;
  std::vector<double> partial(static_cast<size_t>(items * k), 0.0);
#pragma omp parallel for schedule(static) if (rows * segments * len >= kParallelMin)
  for (int64_t it = 0; it < items; ++it) {
    const int64_t row = it / per_row, rem = it % per_row;
    const int64_t seg = rem / chunks, chunk = rem % chunks;
    const int64_t begin = chunk * kReduceChunk, end = std::min(len, begin + kReduceChunk);
    visit(row, seg, begin, end, &partial[static_cast<size_t>(it * k)]);
  }
  for (int64_t r = 0; r < rows; ++r) {
    for (int j = 0; j < k; ++j) {
      double s = 0.0;
      for (int64_t i = 0; i < per_row; ++i)
        s += partial[static_cast<size_t>((r * per_row + i) * k + j)];
      out[r * k + j] = s;
    }
  }
}

}  // namespace useg::cpu
