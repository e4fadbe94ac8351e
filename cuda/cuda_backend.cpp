// CudaBackend construction and make_cuda_backend: a missing driver or device is a useg::Error
// ("no CUDA device found ..."), never a crash.
#include "cuda/cuda_backend.h"

#include <cuda_runtime_api.h>

#include <cstdlib>

#include "cuda/cuda_check.h"
#include "useg/error.h"

namespace useg {
namespace gpu {

CudaBackend::CudaBackend(const BackendOptions& opts, Precision precision)
    : m_ctx(DeviceContext::acquire(opts.cuda_device)), m_precision(precision) {
  add_all_ops(ops);
}

CudaBackend::~CudaBackend() {
  // Work still queued may use workspaces of this backend's cuDNN plans.
  cudaStreamSynchronize(m_ctx->compute());
}

void CudaBackend::synchronize() { m_ctx->synchronize(); }

CudnnConv& CudaBackend::cudnn() {
  if (!m_cudnn) m_cudnn = make_cudnn_conv(stream(), allocator(), m_precision);
  return *m_cudnn;
}

void CudaBackend::download(void* host, const void* device, size_t bytes) {
  m_ctx->transfer().download(host, device, bytes);
}

}  // namespace gpu

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

std::unique_ptr<Backend> make_cuda_backend(const BackendOptions& opts) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();  // not sticky: clear it
    USEG_THROW("no CUDA device found (cudaGetDeviceCount: " << cudaGetErrorName(e) << ": "
                                                            << cudaGetErrorString(e)
                                                            << "); check the NVIDIA driver and "
                                                               "CUDA_VISIBLE_DEVICES, or use "
                                                               "--device cpu");
  }
  if (count == 0)
    USEG_THROW("no CUDA device found (cudaGetDeviceCount reports 0 devices); check "
               "CUDA_VISIBLE_DEVICES, or use --device cpu");
  USEG_CHECK(opts.cuda_device >= 0 && opts.cuda_device < count,
             "CUDA device " << opts.cuda_device << " not found: this machine has " << count
                            << " device(s), numbered 0.." << count - 1);
  const gpu::Precision precision = gpu::resolve_precision(opts.precision);
  return std::make_unique<Backend>(std::make_unique<gpu::CudaBackend>(opts, precision));
}

}  // namespace useg
