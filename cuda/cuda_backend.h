// The CUDA backend: cuDNN for convolution and transposed convolution (cudnn_conv.cpp), our own
// kernels for everything else (cuda/*_kernels.cu, grid-stride loops and fixed-order reductions
// over the math of src/ops). Tensors stay float32 NCDHW; only the fp16/bf16 convolutions' half
// copies are NDHWC (cuda/README.md, Layout).
// Every op checks its arguments with src/core/op_checks.h (the CPU backend's messages), launches
// on the compute stream of the shared DeviceContext, and returns without synchronizing, except
// the ops that return a host value (loss, sum_squares, all_finite) and host copies.
// Each group of ops is defined in its own file; this header only declares the class.
#pragma once

#include <memory>
#include <string>

#include "cuda/cudnn_conv.h"
#include "cuda/device_context.h"
#include "cuda/host/precision.h"
#include "useg/backend.h"

namespace useg::gpu {

class CudaBackend final : public Backend {
 public:
  // cuda_backend.cpp (use make_backend(Device::CUDA) / make_cuda_backend)
  CudaBackend(const BackendOptions& opts, Precision precision);
  ~CudaBackend() override;

  Device device() const override { return Device::CUDA; }
  std::string name() const override { return "cuda"; }
  void synchronize() override;
  Precision precision() const { return m_precision; }
  DeviceContext& context() { return *m_ctx; }

  // conv.cpp
  void conv_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                    const ConvGeom& g) override;
  void conv_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx,
                          const ConvGeom& g) override;
  void conv_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor* dbias,
                             const ConvGeom& g) override;
  void deconv_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                      const ConvGeom& g) override;
  void deconv_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx,
                            const ConvGeom& g) override;
  void deconv_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor* dbias,
                               const ConvGeom& g) override;
  // pool_window.cpp
  void maxpool_forward(const Tensor& x, Tensor& y, const PoolGeom& g) override;
  void maxpool_backward(const Tensor& x, const Tensor& dy, Tensor& dx,
                        const PoolGeom& g) override;

  // norm.cpp
  void instance_norm_forward(const Tensor& x, const Tensor* gamma, const Tensor* beta, float eps,
                             Tensor& y, Tensor* save_mean, Tensor* save_invstd) override;
  void instance_norm_backward(const Tensor& x, const Tensor& dy, const Tensor* gamma,
                              const Tensor& save_mean, const Tensor& save_invstd, Tensor& dx,
                              Tensor* dgamma, Tensor* dbeta) override;
  void batch_norm_forward_training(const Tensor& x, const Tensor* gamma, const Tensor* beta,
                                   float eps, float momentum, Tensor& running_mean,
                                   Tensor& running_var, Tensor& y, Tensor& save_mean,
                                   Tensor& save_invstd) override;
  void batch_norm_forward_inference(const Tensor& x, const Tensor* gamma, const Tensor* beta,
                                    const Tensor& running_mean, const Tensor& running_var,
                                    float eps, Tensor& y) override;
  void batch_norm_backward(const Tensor& x, const Tensor& dy, const Tensor* gamma,
                           const Tensor& save_mean, const Tensor& save_invstd, Tensor& dx,
                           Tensor* dgamma, Tensor* dbeta) override;

  // elementwise.cpp
  void activation_forward(Activation a, float alpha, const Tensor& x, Tensor& y) override;
  void activation_backward(Activation a, float alpha, const Tensor& x, const Tensor& y,
                           const Tensor& dy, Tensor& dx) override;
  void fill(Tensor& t, float value) override;
  void copy(const Tensor& src, Tensor& dst) override;
  void add(const Tensor& a, const Tensor& b, Tensor& y) override;
  void axpy(float alpha, const Tensor& x, Tensor& y) override;
  void scale(Tensor& x, float s) override;
  void mul(const Tensor& a, const Tensor& b, Tensor& y) override;
  double sum_squares(const Tensor& x) override;
  bool all_finite(const Tensor& x) override;
  void concat_channels(const Tensor& a, const Tensor& b, Tensor& y) override;
  void split_channels(const Tensor& y, Tensor& a, Tensor& b) override;
  void softmax_channels(const Tensor& x, Tensor& y) override;
  void dropout_forward(const Tensor& x, float p, uint64_t seed, Tensor& y,
                       Tensor& mask) override;

  // loss.cpp
  double loss_forward_backward(const LossSpec& spec, const Tensor& logits, const Tensor& target,
                               Tensor* dlogits) override;
  // optim.cpp
  void sgd_update(Tensor& param, const Tensor& grad, Tensor* momentum_buf,
                  const SgdStep& s) override;
  void adam_update(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v,
                   const AdamStep& s) override;
  // pool_window.cpp
  void window_accumulate(const Tensor& probs, int64_t n, const Tensor& weight,
                         const std::array<int64_t, 3>& offset, Tensor& accum,
                         Tensor& weight_sum) override;
  void argmax_channels(const Tensor& x, Tensor& labels) override;
  void flip_spatial(const Tensor& x, int axes, Tensor& y) override;

 private:
  // The compute stream every op launches on (after making the device current on this thread).
  cudaStream_t stream() const {
    m_ctx->make_current();
    return m_ctx->compute();
  }
  DeviceAllocator& allocator() { return m_ctx->allocator(); }
  // Device -> host copy of a small result (waits for the compute stream).
  void download(void* host, const void* device, size_t bytes);
  // One cuDNN routine in the backend's precision: fp16/bf16 cast the operands around the call.
  void run_conv(const char* op, const ConvCall& call, const Tensor& in0, const Tensor& in1,
                Tensor& out);
  // dbias[c] = sum of dy over n and the voxels (deterministic row reduction).
  void bias_gradient(const Tensor& dy, Tensor& dbias);
  // The cuDNN side, created on the first convolution: a backend made only to probe the device
  // (device_available) or for ops without convolutions never pays for cuDNN's initialization.
  CudnnConv& cudnn();

  std::shared_ptr<DeviceContext> m_ctx;
  Precision m_precision;
  std::unique_ptr<CudnnConv> m_cudnn;
};

}  // namespace useg::gpu
