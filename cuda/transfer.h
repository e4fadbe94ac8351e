// Host <-> device copies through pinned staging buffers (the Tensor::to path).
//
// Upload (host -> device) runs on the copy stream: each chunk is copied by the CPU into a pinned
// staging buffer and DMA'd asynchronously; the compute stream then waits on an event, and the
// call returns without waiting for the DMA. So while the GPU still executes the kernels queued
// for window batch k, the upload of batch k+1 proceeds in parallel (and, for large tensors, the
// CPU fills one staging buffer while the other is in flight). The caller may reuse its host
// memory as soon as the call returns.
// Download (device -> host) runs on the compute stream (the host needs results that compute
// produces) and returns when the data is in host memory; chunks are double-buffered so the CPU
// copies chunk i out of pinned memory while chunk i+1 is transferred.
#pragma once

#include <cstddef>
#include <mutex>

#include "cuda/device_allocator.h"

namespace useg::gpu {

class Transfer {
 public:
  static constexpr size_t kStagingBytes = size_t(8) << 20;  // per buffer
  static constexpr int kStagingBuffers = 2;

  Transfer(cudaStream_t compute, cudaStream_t copy, DeviceAllocator& allocator);
  ~Transfer();
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;

  void upload(void* dst, const void* src, size_t bytes);
  void download(void* dst, const void* src, size_t bytes);

 private:
  struct Staging {
    void* host = nullptr;         // pinned, kStagingBytes (allocated on first use)
    cudaEvent_t done = nullptr;   // recorded after the last transfer through this buffer
  };
  // The next staging buffer, once its previous transfer has completed.
  Staging& next();

  cudaStream_t m_compute, m_copy;
  DeviceAllocator& m_allocator;
  std::mutex m_mutex;
  Staging m_staging[kStagingBuffers];
  int m_next = 0;
  cudaEvent_t m_uploaded = nullptr;
};

}  // namespace useg::gpu
