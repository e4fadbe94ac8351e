// The cuDNN RAII wrappers (cuDNN calls only).
#include "cuda/cudnn_handle.h"

#include <sstream>

#include "cuda/host/conv_problem.h"
#include "useg/error.h"

namespace useg::gpu {
namespace detail {

void throw_cudnn_error(cudnnStatus_t s, const char* call, const char* file, int line) {
  std::ostringstream os;
  os << "cuDNN error " << cudnnGetErrorString(s) << " (" << int(s) << ") in `" << call << "` at "
     << file << ":" << line;
  throw Error(os.str());
}

}  // namespace detail

CudnnHandle::CudnnHandle(cudaStream_t stream) {
  USEG_CUDNN_CHECK(cudnnCreate(&m_h));
  const cudnnStatus_t s = cudnnSetStream(m_h, stream);
  if (s != CUDNN_STATUS_SUCCESS) {
    cudnnDestroy(m_h);
    USEG_CUDNN_CHECK(s);
  }
}
CudnnHandle::~CudnnHandle() { cudnnDestroy(m_h); }

TensorDesc::TensorDesc(int rank, const std::array<int, 5>& dims,
                       const std::array<int, 5>& strides, cudnnDataType_t type) {
  USEG_CUDNN_CHECK(cudnnCreateTensorDescriptor(&m_d));
  const cudnnStatus_t s =
      cudnnSetTensorNdDescriptor(m_d, type, rank, dims.data(), strides.data());
  if (s != CUDNN_STATUS_SUCCESS) {
    cudnnDestroyTensorDescriptor(m_d);
    USEG_CUDNN_CHECK(s);
  }
}
TensorDesc::~TensorDesc() { cudnnDestroyTensorDescriptor(m_d); }

FilterDesc::FilterDesc(int rank, const std::array<int, 5>& dims, cudnnDataType_t type,
                       TensorLayout layout) {
  USEG_CUDNN_CHECK(cudnnCreateFilterDescriptor(&m_d));
  // The dims stay in [K, C, kD, kH, kW] order; the format names the memory order.
  const cudnnTensorFormat_t format =
      layout == TensorLayout::Ndhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
  const cudnnStatus_t s = cudnnSetFilterNdDescriptor(m_d, type, format, rank, dims.data());
  if (s != CUDNN_STATUS_SUCCESS) {
    cudnnDestroyFilterDescriptor(m_d);
    USEG_CUDNN_CHECK(s);
  }
}
FilterDesc::~FilterDesc() { cudnnDestroyFilterDescriptor(m_d); }

ConvDesc::ConvDesc(int spatial, const std::array<int, 3>& pad, const std::array<int, 3>& stride,
                   const std::array<int, 3>& dilation) {
  USEG_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&m_d));
  const cudnnStatus_t s =
      cudnnSetConvolutionNdDescriptor(m_d, spatial, pad.data(), stride.data(), dilation.data(),
                                      CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT);
  if (s != CUDNN_STATUS_SUCCESS) {
    cudnnDestroyConvolutionDescriptor(m_d);
    USEG_CUDNN_CHECK(s);
  }
}
ConvDesc::~ConvDesc() { cudnnDestroyConvolutionDescriptor(m_d); }

void ConvDesc::set_math(cudnnMathType_t m) {
  USEG_CUDNN_CHECK(cudnnSetConvolutionMathType(m_d, m));
}

}  // namespace useg::gpu
