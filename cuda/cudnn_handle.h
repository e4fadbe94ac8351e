// RAII wrappers of the cuDNN objects the convolution path uses, and USEG_CUDNN_CHECK. Included
// only by the cuDNN files (cudnn_handle.cpp, cudnn_conv.cpp).
#pragma once

#include <cudnn.h>

#include <array>

#include <cuda_runtime_api.h>

#include "cuda/host/conv_problem.h"

namespace useg::gpu {
namespace detail {
[[noreturn]] void throw_cudnn_error(cudnnStatus_t s, const char* call, const char* file,
                                    int line);
}  // namespace detail

// Throws useg::Error("cuDNN error CUDNN_STATUS_... in `call` at file:line").
#define USEG_CUDNN_CHECK(call)                                                     \
  do {                                                                             \
    const cudnnStatus_t useg_cudnn_st_ = (call);                                   \
    if (useg_cudnn_st_ != CUDNN_STATUS_SUCCESS)                                    \
      ::useg::gpu::detail::throw_cudnn_error(useg_cudnn_st_, #call, __FILE__, __LINE__); \
  } while (0)

class CudnnHandle {
 public:
  explicit CudnnHandle(cudaStream_t stream);
  ~CudnnHandle();
  CudnnHandle(const CudnnHandle&) = delete;
  CudnnHandle& operator=(const CudnnHandle&) = delete;
  cudnnHandle_t get() const { return m_h; }

 private:
  cudnnHandle_t m_h = nullptr;
};

// A tensor of `rank` (4 or 5) dims [N, C, (D,) H, W] and strides in that order (CudnnDims).
class TensorDesc {
 public:
  TensorDesc(int rank, const std::array<int, 5>& dims, const std::array<int, 5>& strides,
             cudnnDataType_t type);
  ~TensorDesc();
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
  cudnnTensorDescriptor_t get() const { return m_d; }

 private:
  cudnnTensorDescriptor_t m_d = nullptr;
};

// A filter of `rank` dims [K, C, (kD,) kH, kW], stored as such (CUDNN_TENSOR_NCHW) or
// channels-last [K, (kD,) kH, kW, C] (CUDNN_TENSOR_NHWC) for TensorLayout::Ndhwc.
class FilterDesc {
 public:
  FilterDesc(int rank, const std::array<int, 5>& dims, cudnnDataType_t type, TensorLayout layout);
  ~FilterDesc();
  FilterDesc(const FilterDesc&) = delete;
  FilterDesc& operator=(const FilterDesc&) = delete;
  cudnnFilterDescriptor_t get() const { return m_d; }

 private:
  cudnnFilterDescriptor_t m_d = nullptr;
};

// A cross-correlation (what deep-learning "convolution" means) over `spatial` (2 or 3) dims
// with float accumulation.
class ConvDesc {
 public:
  ConvDesc(int spatial, const std::array<int, 3>& pad, const std::array<int, 3>& stride,
           const std::array<int, 3>& dilation);
  ~ConvDesc();
  ConvDesc(const ConvDesc&) = delete;
  ConvDesc& operator=(const ConvDesc&) = delete;
  cudnnConvolutionDescriptor_t get() const { return m_d; }
  void set_math(cudnnMathType_t m);

 private:
  cudnnConvolutionDescriptor_t m_d = nullptr;
};

}  // namespace useg::gpu
