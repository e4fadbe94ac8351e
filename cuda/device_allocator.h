// The caching device allocator behind Tensor::empty(shape, Device::CUDA). Freed blocks are kept
// in per-size-class free lists (cuda/host/size_class.h) and handed out again to the next request
// of the same class, so the tensors of every window batch and training step after the first cost
// no cudaMalloc/cudaFree (both synchronize the device). Cached blocks are released when the
// owning DeviceContext is destroyed (the last CudaBackend goes away) or when cudaMalloc runs out
// of memory (then the request is retried once).
//
// Stream safety: every op runs on the one compute stream, so a block freed by one op and reused
// by a later one is ordered by the stream. Only a copy on another stream (the upload stream of
// cuda/transfer.h) could overwrite a reused block while earlier compute work still reads it, so
// deallocate() records an event on the compute stream and wait_before_reuse() makes the other
// stream wait for it.
#pragma once

#include <cstddef>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "cuda/launch.h"

struct CUevent_st;
typedef struct CUevent_st* cudaEvent_t;  // as in CUDA's driver_types.h

namespace useg::gpu {

class DeviceAllocator {
 public:
  explicit DeviceAllocator(cudaStream_t compute);
  ~DeviceAllocator();  // frees the cached blocks (the owner synchronizes the device first)
  DeviceAllocator(const DeviceAllocator&) = delete;
  DeviceAllocator& operator=(const DeviceAllocator&) = delete;

  // A block of at least `bytes` (rounded up to its size class). Throws useg::Error when the
  // device is out of memory even after releasing the cache.
  void* allocate(size_t bytes);
  // Returns a block from allocate(bytes) to its free list. Never throws (it runs in Tensor
  // destructors); a failing CUDA call is reported on stderr and the block is freed instead.
  void deallocate(void* ptr, size_t bytes) noexcept;
  // Makes `stream` wait for the compute-stream work issued before ptr's block was last freed.
  void wait_before_reuse(void* ptr, cudaStream_t stream);
  // cudaFree of every cached block.
  void release_cached();

  struct Stats {
    size_t live_bytes = 0;    // handed out and not yet returned (size classes)
    size_t cached_bytes = 0;  // in the free lists
    size_t device_allocs = 0; // cudaMalloc calls
    size_t reuses = 0;        // requests served from a free list
  };
  Stats stats() const;

 private:
  struct Block {
    void* ptr;
    cudaEvent_t freed;  // recorded on the compute stream when the block was returned
  };
  cudaEvent_t take_event();  // from the pool or new (caller holds m_mutex)
  void release_cached_locked();

  cudaStream_t m_compute;
  mutable std::mutex m_mutex;
  std::unordered_map<size_t, std::vector<Block>> m_free;  // size class -> cached blocks
  std::unordered_map<void*, cudaEvent_t> m_last_free;      // live block -> its last free event
  std::vector<cudaEvent_t> m_event_pool;
  Stats m_stats;
};

// Scratch memory for one op (reduction partials, cuDNN workspace, half copies), returned to the
// allocator at scope exit. Stream-ordered on the compute stream like every other block.
class DeviceBuffer {
 public:
  DeviceBuffer(DeviceAllocator& a, size_t bytes)
      : m_alloc(&a), m_bytes(bytes), m_ptr(bytes ? a.allocate(bytes) : nullptr) {}
  ~DeviceBuffer() {
    if (m_ptr) m_alloc->deallocate(m_ptr, m_bytes);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(m_ptr);
  }
  size_t bytes() const { return m_bytes; }

 private:
  DeviceAllocator* m_alloc;
  size_t m_bytes;
  void* m_ptr;
};

}  // namespace useg::gpu
