// When a CPU loop is worth an OpenMP parallel region.
#pragma once

#include <cstdint>

namespace useg::cpu {

// Below this many elements a memory-bound pass runs on the calling thread (`#pragma omp parallel
// for if(...)`). Entering a region wakes every team thread: tens of microseconds when they have
// gone to sleep, and several milliseconds each time when the cores are shared with other
// processes (measured: ~20 ms per region on this 2-core machine under a load average of 6, where
// the deep layers' norm passes took 0.3 ms on one thread). A 1M-element pass takes ~1-2 ms on
// one core, so the quiet-machine loss is small.
constexpr int64_t kParallelMin = int64_t(1) << 20;

}  // namespace useg::cpu
