// The cuDNN side of the convolution ops, behind a plain C++ interface: cudnn_conv.cpp holds every
// cuDNN call (descriptors, algorithm choice and its cache, the three convolution routines) and
// is the only file besides cudnn_handle.* that includes cudnn.h. Under cudacpu (no cuDNN on the
// CPU) tests/cudacpu/cudnn_emulated.cpp provides make_cudnn_conv() instead: the three routines
// emulated with naive convolutions on exactly the data this interface specifies.
#pragma once

#include <memory>

#include "cuda/device_allocator.h"
#include "cuda/host/conv_problem.h"
#include "cuda/host/precision.h"

namespace useg::gpu {

class CudnnConv {
 public:
  virtual ~CudnnConv() = default;
  // One cuDNN convolution routine on problem p (cuda/host/conv_problem.h), overwriting `out`:
  //   Forward         a = x_c, b = w_c, out = y_c
  //   BackwardData    a = w_c, b = y_c (dy), out = x_c (dx)
  //   BackwardFilter  a = x_c, b = y_c (dy), out = w_c (dw)
  // Device pointers to float32 NCDHW data, or to half / bfloat16 NDHWC data (filters
  // [K, kD, kH, kW, C]) when the precision is fp16 / bf16 (conv_layout; the caller casts and
  // transposes). `op` names the backend op in errors.
  virtual void run(const char* op, ConvRoutine routine, const ConvProblem& p, const void* a,
                   const void* b, void* out) = 0;
};

// A cuDNN handle on `stream`; workspaces come from `allocator`. Throws useg::Error when cuDNN
// cannot be initialized (e.g. a cuDNN library that does not match the build).
std::unique_ptr<CudnnConv> make_cudnn_conv(cudaStream_t stream, DeviceAllocator& allocator,
                                           Precision precision);

}  // namespace useg::gpu
