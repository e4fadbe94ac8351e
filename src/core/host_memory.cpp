// The host block cache of host_memory.h.
#include "core/host_memory.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "useg/error.h"

#if defined(__SANITIZE_ADDRESS__)
#define USEG_HOST_CACHE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define USEG_HOST_CACHE 0
#endif
#endif
#ifndef USEG_HOST_CACHE
#define USEG_HOST_CACHE 1
#endif

namespace useg {
namespace {

struct Cache {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free;  // by exact (rounded) size
  HostCacheStats stats;

  // The largest live total seen plus 1/8: a training step's allocations repeat, but not in an
  // identical order of sizes, so its footprint (live + free) runs a little above the live peak.
  // Capped at half the peak (the first version), the 3D U-Net step (2 x 64^3) sent ~55 blocks a
  // step back to the system and faulted them in again (65k page faults a step); at the peak
  // itself, one 32 MiB block a step; with the 1/8 none (peak RSS +2%).
  size_t limit() const {
    return std::max<size_t>(size_t(256) << 20, stats.live_peak + stats.live_peak / 8);
  }

  void release_all() {
    for (auto& [size, blocks] : free)
      for (void* p : blocks) std::free(p);
    free.clear();
    stats.free_bytes = 0;
  }
};

// Never destroyed: tensors freed during static destruction still find it.
Cache& cache() {
  static Cache* c = new Cache;
  return *c;
}

// USEG_HOST_CACHE=0 in the environment turns the cache off (every block back to the system).
bool cache_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("USEG_HOST_CACHE");
    return USEG_HOST_CACHE && !(v && std::string(v) == "0");
  }();
  return on;
}

bool cached_size(size_t rounded) { return cache_enabled() && rounded >= kHostCacheMinBytes; }

void release(void* p, size_t rounded) {
  if (cached_size(rounded)) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    c.stats.live_bytes -= rounded;
    if (c.stats.free_bytes + rounded <= c.limit()) {
      c.free[rounded].push_back(p);
      c.stats.free_bytes += rounded;
      return;
    }
  }
  std::free(p);
}

}  // namespace

std::shared_ptr<void> host_buffer(size_t bytes) {
  const size_t rounded = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
  void* p = nullptr;
  if (cached_size(rounded)) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.free.find(rounded);
    if (it != c.free.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
      c.stats.free_bytes -= rounded;
      ++c.stats.hits;
    } else {
      ++c.stats.misses;
    }
    c.stats.live_bytes += rounded;
    c.stats.live_peak = std::max(c.stats.live_peak, c.stats.live_bytes);
  }
  if (!p) p = std::aligned_alloc(64, rounded);
  if (!p && cached_size(rounded)) {  // give the cached blocks back and try once more
    host_cache_release();
    p = std::aligned_alloc(64, rounded);
  }
  if (!p) {
    if (cached_size(rounded)) {
      Cache& c = cache();
      std::lock_guard<std::mutex> lock(c.mutex);
      c.stats.live_bytes -= rounded;
    }
    USEG_THROW("out of host memory allocating " << bytes << " bytes");
  }
  return std::shared_ptr<void>(p, [rounded](void* q) { release(q, rounded); });
}

HostCacheStats host_cache_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.stats;
}

void host_cache_release() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.release_all();
}

}  // namespace useg
