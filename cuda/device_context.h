// The process's CUDA state, shared by every CudaBackend (and every Tensor on Device::CUDA): the
// device, the compute stream every op and cuDNN call runs on, the copy stream for uploads, the
// caching allocator and the pinned staging buffers. The first acquire() also installs the
// DeviceHooks through which Tensor allocates, copies and zeroes CUDA memory. The context lives
// as long as some CudaBackend holds it; tensors that outlive it fall back to plain
// cudaMalloc/cudaFree/cudaMemcpy.
#pragma once

#include <memory>

#include "cuda/device_allocator.h"
#include "cuda/transfer.h"

namespace useg::gpu {

class DeviceContext {
 public:
  // The context of CUDA device `device`, created on first use. Throws useg::Error when the
  // device cannot be used, or when a context for another device is alive (one GPU per process:
  // see DESIGN.md, scale-out).
  static std::shared_ptr<DeviceContext> acquire(int device);
  // The live context, or null.
  static std::shared_ptr<DeviceContext> current();

  ~DeviceContext();  // synchronizes, then frees the cache, the staging buffers and the streams
  DeviceContext(const DeviceContext&) = delete;
  DeviceContext& operator=(const DeviceContext&) = delete;

  int device() const { return m_device; }
  cudaStream_t compute() const { return m_compute; }
  cudaStream_t copy() const { return m_copy; }
  DeviceAllocator& allocator() { return *m_allocator; }
  Transfer& transfer() { return *m_transfer; }
  void synchronize();
  // Makes the context's device current on the calling thread (CUDA's current device is per
  // host thread; ops and Tensor copies may come from any thread).
  void make_current() const;

 private:
  explicit DeviceContext(int device);
  int m_device;
  cudaStream_t m_compute = nullptr;
  cudaStream_t m_copy = nullptr;
  std::unique_ptr<DeviceAllocator> m_allocator;
  std::unique_ptr<Transfer> m_transfer;
};

}  // namespace useg::gpu
