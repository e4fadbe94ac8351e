#include "cuda/transfer.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstring>

#include "cuda/cuda_check.h"

namespace useg::gpu {

Transfer::Transfer(cudaStream_t compute, cudaStream_t copy, DeviceAllocator& allocator)
    : m_compute(compute), m_copy(copy), m_allocator(allocator) {
  USEG_CUDA_CHECK(cudaEventCreateWithFlags(&m_uploaded, cudaEventDisableTiming));
}

Transfer::~Transfer() {
  for (Staging& s : m_staging) {
    if (s.done) cudaEventSynchronize(s.done);
    if (s.host) cudaFreeHost(s.host);
    if (s.done) cudaEventDestroy(s.done);
  }
  cudaEventDestroy(m_uploaded);
}

Transfer::Staging& Transfer::next() {
  Staging& s = m_staging[m_next];
  m_next = (m_next + 1) % kStagingBuffers;
  if (!s.host) {
    USEG_CUDA_CHECK(cudaHostAlloc(&s.host, kStagingBytes, cudaHostAllocDefault));
    USEG_CUDA_CHECK(cudaEventCreateWithFlags(&s.done, cudaEventDisableTiming));
  } else {
    USEG_CUDA_CHECK(cudaEventSynchronize(s.done));
  }
  return s;
}

void Transfer::upload(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  std::lock_guard<std::mutex> lock(m_mutex);
  // dst may be a cached block that compute work issued before its last free still reads.
  m_allocator.wait_before_reuse(dst, m_copy);
  for (size_t off = 0; off < bytes; off += kStagingBytes) {
    const size_t len = std::min(kStagingBytes, bytes - off);
    Staging& s = next();
    std::memcpy(s.host, static_cast<const char*>(src) + off, len);
    USEG_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(dst) + off, s.host, len,
                                    cudaMemcpyHostToDevice, m_copy));
    USEG_CUDA_CHECK(cudaEventRecord(s.done, m_copy));
  }
  // Later compute work (the ops that read dst) waits for the upload; the host does not.
  USEG_CUDA_CHECK(cudaEventRecord(m_uploaded, m_copy));
  USEG_CUDA_CHECK(cudaStreamWaitEvent(m_compute, m_uploaded, 0));
}

void Transfer::download(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  std::lock_guard<std::mutex> lock(m_mutex);
  const size_t chunks = (bytes + kStagingBytes - 1) / kStagingBytes;
  Staging* in_flight[kStagingBuffers] = {};
  auto issue = [&](size_t i) {
    const size_t off = i * kStagingBytes, len = std::min(kStagingBytes, bytes - off);
    Staging& s = next();
    USEG_CUDA_CHECK(cudaMemcpyAsync(s.host, static_cast<const char*>(src) + off, len,
                                    cudaMemcpyDeviceToHost, m_compute));
    USEG_CUDA_CHECK(cudaEventRecord(s.done, m_compute));
    in_flight[i % kStagingBuffers] = &s;
  };
  issue(0);
  for (size_t i = 0; i < chunks; ++i) {
    if (i + 1 < chunks) issue(i + 1);
    Staging& s = *in_flight[i % kStagingBuffers];
    USEG_CUDA_CHECK(cudaEventSynchronize(s.done));
    const size_t off = i * kStagingBytes, len = std::min(kStagingBytes, bytes - off);
    std::memcpy(static_cast<char*>(dst) + off, s.host, len);
  }
}

}  // namespace useg::gpu
