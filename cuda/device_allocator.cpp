#include "cuda/device_allocator.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>

#include "cuda/cuda_check.h"
#include "cuda/host/size_class.h"
#include "useg/error.h"

namespace useg::gpu {

DeviceAllocator::DeviceAllocator(cudaStream_t compute) : m_compute(compute) {}

DeviceAllocator::~DeviceAllocator() {
  std::lock_guard<std::mutex> lock(m_mutex);
  release_cached_locked();
  for (auto& kv : m_last_free) cudaEventDestroy(kv.second);
  for (cudaEvent_t e : m_event_pool) cudaEventDestroy(e);
}

void* DeviceAllocator::allocate(size_t bytes) {
  const size_t cls = size_class(bytes);
  std::lock_guard<std::mutex> lock(m_mutex);
  auto it = m_free.find(cls);
  if (it != m_free.end() && !it->second.empty()) {
    const Block b = it->second.back();
    it->second.pop_back();
    m_last_free[b.ptr] = b.freed;
    m_stats.cached_bytes -= cls;
    m_stats.live_bytes += cls;
    ++m_stats.reuses;
    return b.ptr;
  }
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, cls);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // clear it, so the next launch check does not report it
    USEG_CUDA_CHECK(cudaStreamSynchronize(m_compute));
    release_cached_locked();
    e = cudaMalloc(&p, cls);
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      USEG_THROW("CUDA out of memory allocating " << bytes << " bytes (" << m_stats.live_bytes
                                                  << " bytes in use by tensors; cache released);"
                                                  << " use smaller windows or batches");
    }
  }
  USEG_CUDA_CHECK(e);
  ++m_stats.device_allocs;
  m_stats.live_bytes += cls;
  return p;
}

cudaEvent_t DeviceAllocator::take_event() {
  if (!m_event_pool.empty()) {
    cudaEvent_t e = m_event_pool.back();
    m_event_pool.pop_back();
    return e;
  }
  cudaEvent_t e = nullptr;
  USEG_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  return e;
}

void DeviceAllocator::deallocate(void* ptr, size_t bytes) noexcept {
  if (!ptr) return;
  const size_t cls = size_class(bytes);
  std::lock_guard<std::mutex> lock(m_mutex);
  try {
    cudaEvent_t ev = nullptr;
    auto it = m_last_free.find(ptr);
    if (it != m_last_free.end()) {
      ev = it->second;
      m_last_free.erase(it);
    }
    if (!ev) ev = take_event();
#ifdef USEG_CUDACPU
    // Tests under cudacpu: a returned block is filled with 0xff bytes (float NaN) in stream
    // order, so that code relying on what a reused block held before fails there.
    USEG_CUDA_CHECK(cudaMemsetAsync(ptr, 0xff, cls, m_compute));
#endif
    USEG_CUDA_CHECK(cudaEventRecord(ev, m_compute));
    m_free[cls].push_back(Block{ptr, ev});
    m_stats.live_bytes -= std::min(m_stats.live_bytes, cls);  // blocks of an earlier context
    m_stats.cached_bytes += cls;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "useg: warning: returning a CUDA block to the cache failed (%s); "
                         "freeing it\n", e.what());
    cudaFree(ptr);
    m_stats.live_bytes -= std::min(m_stats.live_bytes, cls);
  }
}

void DeviceAllocator::wait_before_reuse(void* ptr, cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(m_mutex);
  auto it = m_last_free.find(ptr);
  if (it != m_last_free.end()) USEG_CUDA_CHECK(cudaStreamWaitEvent(stream, it->second, 0));
}

void DeviceAllocator::release_cached() {
  std::lock_guard<std::mutex> lock(m_mutex);
  release_cached_locked();
}

void DeviceAllocator::release_cached_locked() {
  for (auto& kv : m_free) {
    for (const Block& b : kv.second) {
      cudaFree(b.ptr);  // synchronizes with the device: the recorded uses are complete
      m_event_pool.push_back(b.freed);
      m_stats.cached_bytes -= kv.first;
    }
    kv.second.clear();
  }
}

DeviceAllocator::Stats DeviceAllocator::stats() const {
  std::lock_guard<std::mutex> lock(m_mutex);
  return m_stats;
}

}  // namespace useg::gpu
