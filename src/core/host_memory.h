// Host memory for tensors and per-step buffers, with a cache of large freed blocks.
//
// A training step (and a sliding window) allocates the same large buffers in the same order every
// time. Blocks of 32 MiB and more come from mmap in glibc, so each step used to fault in (and the
// kernel zero) every page of its activations afresh: a quarter of a 3D training step's time went
// to page faults. Freed blocks of at least kHostCacheMinBytes are kept, by exact size, and handed
// out again; the free blocks kept are capped at the largest live total seen plus 1/8 (at least
// 256 MiB), beyond which blocks go back to the system. Sanitizer builds bypass the cache so that
// use-after-free stays detectable; USEG_HOST_CACHE=0 in the environment turns it off.
#pragma once

#include <cstddef>
#include <memory>

namespace useg {

constexpr size_t kHostCacheMinBytes = size_t(1) << 20;

// 64-byte aligned, at least `bytes` (rounded up to 64); throws naming the size when the system
// has none left (after returning the cached blocks to it).
std::shared_ptr<void> host_buffer(size_t bytes);

struct HostCacheStats {
  size_t free_bytes = 0;   // kept for reuse now
  size_t live_bytes = 0;   // handed out (blocks >= kHostCacheMinBytes only)
  size_t live_peak = 0;
  size_t hits = 0, misses = 0;
};
HostCacheStats host_cache_stats();
// Returns every cached block to the system (e.g. between images of different sizes).
void host_cache_release();

}  // namespace useg
