#include "cuda/device_context.h"

#include <cuda_runtime_api.h>

#include <cstdio>
#include <mutex>

#include "cuda/cuda_check.h"
#include "cuda/host/size_class.h"
#include "useg/error.h"
#include "useg/tensor.h"

namespace useg::gpu {
namespace {

std::mutex g_mutex;
std::weak_ptr<DeviceContext> g_context;

// ---- DeviceHooks: through the live context, or plain CUDA calls when none is alive.
void* hook_allocate(size_t bytes) {
  if (auto ctx = DeviceContext::current()) {
    ctx->make_current();
    return ctx->allocator().allocate(bytes);
  }
  void* p = nullptr;
  USEG_CUDA_CHECK(cudaMalloc(&p, size_class(bytes)));  // a size class: a later cache may reuse it
  return p;
}

void hook_deallocate(void* p, size_t bytes) {
  if (auto ctx = DeviceContext::current()) return ctx->allocator().deallocate(p, bytes);
  cudaFree(p);
}

// kind: 0 host->device, 1 device->host, 2 device->device
void hook_copy(void* dst, const void* src, size_t bytes, int kind) {
  if (auto ctx = DeviceContext::current()) {
    ctx->make_current();
    if (kind == 0) return ctx->transfer().upload(dst, src, bytes);
    if (kind == 1) return ctx->transfer().download(dst, src, bytes);
    USEG_CUDA_CHECK(
        cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, ctx->compute()));
    return;
  }
  const cudaMemcpyKind k = kind == 0   ? cudaMemcpyHostToDevice
                           : kind == 1 ? cudaMemcpyDeviceToHost
                                       : cudaMemcpyDeviceToDevice;
  USEG_CUDA_CHECK(cudaMemcpy(dst, src, bytes, k));
}

void hook_memset_zero(void* dst, size_t bytes) {
  if (auto ctx = DeviceContext::current()) {
    ctx->make_current();
    USEG_CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, ctx->compute()));
    return;
  }
  USEG_CUDA_CHECK(cudaMemset(dst, 0, bytes));
}

}  // namespace

std::shared_ptr<DeviceContext> DeviceContext::current() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_context.lock();
}

std::shared_ptr<DeviceContext> DeviceContext::acquire(int device) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (auto ctx = g_context.lock()) {
    USEG_CHECK(ctx->device() == device,
               "a CUDA backend for device " << ctx->device() << " is alive in this process; "
               << "device " << device << " needs a process of its own (one GPU per process)");
    return ctx;
  }
  std::shared_ptr<DeviceContext> ctx(new DeviceContext(device));
  static bool hooks_installed = false;
  if (!hooks_installed) {
    DeviceHooks h;
    h.allocate = hook_allocate;
    h.deallocate = hook_deallocate;
    h.copy = hook_copy;
    h.memset_zero = hook_memset_zero;
    register_device_hooks(Device::CUDA, h);
    hooks_installed = true;
  }
  g_context = ctx;
  return ctx;
}

DeviceContext::DeviceContext(int device) : m_device(device) {
  USEG_CUDA_CHECK(cudaSetDevice(device));
  USEG_CUDA_CHECK(cudaStreamCreateWithFlags(&m_compute, cudaStreamNonBlocking));
  USEG_CUDA_CHECK(cudaStreamCreateWithFlags(&m_copy, cudaStreamNonBlocking));
  m_allocator = std::make_unique<DeviceAllocator>(m_compute);
  m_transfer = std::make_unique<Transfer>(m_compute, m_copy, *m_allocator);
}

DeviceContext::~DeviceContext() {
  const cudaError_t e = cudaDeviceSynchronize();
  if (e != cudaSuccess)
    std::fprintf(stderr, "useg: warning: CUDA error at backend shutdown: %s\n",
                 cudaGetErrorString(e));
  m_transfer.reset();
  m_allocator.reset();
  cudaStreamDestroy(m_copy);
  cudaStreamDestroy(m_compute);
}

void DeviceContext::make_current() const {
  int current = -1;
  USEG_CUDA_CHECK(cudaGetDevice(&current));
  if (current != m_device) USEG_CUDA_CHECK(cudaSetDevice(m_device));
}

void DeviceContext::synchronize() {
  USEG_CUDA_CHECK(cudaStreamSynchronize(m_copy));
  USEG_CUDA_CHECK(cudaStreamSynchronize(m_compute));
}

}  // namespace useg::gpu
