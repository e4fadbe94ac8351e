// Checking every CUDA runtime call and kernel launch: a failure throws useg::Error with the
// error's name and description, the call's text and file:line, e.g.
//   "CUDA error cudaErrorMemoryAllocation (out of memory) in `cudaMalloc(&p, bytes)` at
//    cuda/device_allocator.cpp:51"
// USEG_CUDNN_CHECK lives in cuda/cudnn_handle.h (only the cuDNN files include cudnn.h).
#pragma once

#include <cuda_runtime_api.h>

namespace useg::gpu::detail {
[[noreturn]] void throw_cuda_error(cudaError_t e, const char* call, const char* file, int line);
}  // namespace useg::gpu::detail

#define USEG_CUDA_CHECK(call)                                                     \
  do {                                                                            \
    const cudaError_t useg_cuda_err_ = (call);                                    \
    if (useg_cuda_err_ != cudaSuccess)                                            \
      ::useg::gpu::detail::throw_cuda_error(useg_cuda_err_, #call, __FILE__, __LINE__); \
  } while (0)

// After every kernel launch: a bad configuration (or, with CUDA_LAUNCH_BLOCKING=1, a fault in
// the kernel) is reported with the kernel's name.
#define USEG_KERNEL_CHECK(kernel_name)                                                  \
  do {                                                                                  \
    const cudaError_t useg_cuda_err_ = cudaGetLastError();                              \
    if (useg_cuda_err_ != cudaSuccess)                                                  \
      ::useg::gpu::detail::throw_cuda_error(useg_cuda_err_, "launch of " kernel_name,   \
                                            __FILE__, __LINE__);                        \
  } while (0)
