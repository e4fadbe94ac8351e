// The CUDA backend: cuDNN for convolution and transposed convolution (cudnn_conv.cpp), our own
// kernels for everything else (cuda/*_kernels.cu, grid-stride loops and fixed-order reductions
// over the math of src/ops). Tensors stay float32 NCDHW; only the fp16/bf16 convolutions' half
// copies are NDHWC (cuda/README.md, Layout).
// The front (useg::Backend) checks every op's arguments; each op launches on the compute stream
// of the shared DeviceContext and returns without synchronizing, except the ops that return a
// host value (loss, sum_squares, all_finite) and host copies. Each file holds a group of ops as
// free functions and fills their entries of the op table in its add_*_ops.
#pragma once

#include <memory>
#include <string>

#include "cuda/cudnn_conv.h"
#include "cuda/device_context.h"
#include "cuda/host/precision.h"
#include "core/backend_impl.h"

namespace useg::gpu {

class CudaBackend final : public BackendImpl {
 public:
  // cuda_backend.cpp (use make_backend(Device::CUDA) / make_cuda_backend)
  CudaBackend(const BackendOptions& opts, Precision precision);
  ~CudaBackend() override;

  Device device() const override { return Device::CUDA; }
  std::string name() const override { return "cuda"; }
  void synchronize() override;
  Precision precision() const { return m_precision; }
  DeviceContext& context() { return *m_ctx; }

  // ---- what the ops share
  // The compute stream every op launches on (after making the device current on this thread).
  cudaStream_t stream() const {
    m_ctx->make_current();
    return m_ctx->compute();
  }
  DeviceAllocator& allocator() { return m_ctx->allocator(); }
  // Device -> host copy of a small result (waits for the compute stream).
  void download(void* host, const void* device, size_t bytes);
  // One cuDNN routine in the backend's precision: fp16/bf16 cast the operands around the call
  // (conv.cpp).
  void run_conv(const char* op, const ConvCall& call, const Tensor& in0, const Tensor& in1,
                Tensor& out);
  // dbias[c] = sum of dy over n and the voxels (deterministic row reduction; conv.cpp).
  void bias_gradient(const Tensor& dy, Tensor& dbias);
  // The cuDNN side, created on the first convolution: a backend made only to probe the device
  // (device_available) or for ops without convolutions never pays for cuDNN's initialization.
  CudnnConv& cudnn();

 private:
  std::shared_ptr<DeviceContext> m_ctx;
  Precision m_precision;
  std::unique_ptr<CudnnConv> m_cudnn;
};

// The CudaBackend an op runs on (every CUDA op's BackendImpl is one).
inline CudaBackend& cuda(BackendImpl& b) { return static_cast<CudaBackend&>(b); }

// Each file's ops into the table (src/core/backend_impl.h).
void add_conv_ops(BackendOps& t);         // conv.cpp
void add_elementwise_ops(BackendOps& t);  // elementwise.cpp
void add_loss_ops(BackendOps& t);         // loss.cpp
void add_norm_ops(BackendOps& t);         // norm.cpp
void add_optim_ops(BackendOps& t);        // optim.cpp
void add_pool_window_ops(BackendOps& t);  // pool_window.cpp
void add_global_pool_ops(BackendOps& t);  // global_pool.cpp

}  // namespace useg::gpu
