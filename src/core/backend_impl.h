// What one device provides behind useg::Backend (include/useg/backend.h): a BackendImpl subclass
// holding the device's state (oneDNN engine, CUDA streams and allocator, ...) and one function
// per op in `ops`. The front has already checked every argument (src/core/backend.cpp), so an
// implementation only computes (plus checks only its device has, e.g. cuDNN's int limits).
//
// Each op's implementation is a free function taking the BackendImpl first; the files of a
// device fill the table for the ops they hold (cpu: add_*_ops in src/cpu/cpu_backend.h). An
// entry left null means "not on this device" for the optional fast paths below, and is an error
// (naming the op and the device) for the others.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "useg/backend.h"

namespace useg {

class BackendImpl;

struct BackendOps {
  using B = BackendImpl&;
  // convolution and transposed convolution (geometry and shapes checked by the front)
  void (*conv_forward)(B, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                       const ConvGeom& g) = nullptr;
  void (*conv_backward_data)(B, const Tensor& dy, const Tensor& w, Tensor& dx,
                             const ConvGeom& g) = nullptr;
  void (*conv_backward_weights)(B, const Tensor& x, const Tensor& dy, Tensor& dw, Tensor* dbias,
                                const ConvGeom& g) = nullptr;
  // optional: null = conv_forward, and conv_backward_weights + conv_backward_data
  // conv_forward_training returns Backend::ConvSaved::input; conv_backward gets x undefined
  // only where that handle is non-null, and the input's shape xs always.
  std::shared_ptr<void> (*conv_forward_training)(B, const Tensor& x, const Tensor& w,
                                                 const Tensor* bias, Tensor& y,
                                                 const ConvGeom& g) = nullptr;
  void (*conv_backward)(B, const Tensor& x, const Shape& xs, const Tensor& dy, const Tensor& w,
                        Tensor* dx, Tensor& dw, Tensor* dbias, const ConvGeom& g,
                        const std::shared_ptr<void>& saved) = nullptr;
  void (*deconv_forward)(B, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                         const ConvGeom& g) = nullptr;
  void (*deconv_backward_data)(B, const Tensor& dy, const Tensor& w, Tensor& dx,
                               const ConvGeom& g) = nullptr;
  void (*deconv_backward_weights)(B, const Tensor& x, const Tensor& dy, Tensor& dw,
                                  Tensor* dbias, const ConvGeom& g) = nullptr;
  // pooling
  void (*maxpool_forward)(B, const Tensor& x, Tensor& y, const PoolGeom& g) = nullptr;
  void (*maxpool_backward)(B, const Tensor& x, const Tensor& dy, Tensor& dx,
                           const PoolGeom& g) = nullptr;
  void (*maxpool_offsets)(B, const Tensor& x, Tensor& offsets, const PoolGeom& g) = nullptr;
  void (*maxpool_backward_offsets)(B, const Tensor& offsets, const Tensor& dy, Tensor& dx,
                                   const PoolGeom& g) = nullptr;
  void (*avgpool_forward)(B, const Tensor& x, Tensor& y, const PoolGeom& g) = nullptr;
  void (*avgpool_backward)(B, const Tensor& dy, Tensor& dx, const PoolGeom& g) = nullptr;
  void (*global_avg_pool_forward)(B, const Tensor& x, Tensor& y) = nullptr;
  void (*global_avg_pool_backward)(B, const Tensor& dy, Tensor& dx) = nullptr;
  // normalization
  void (*instance_norm_forward)(B, const Tensor& x, const Tensor* gamma, const Tensor* beta,
                                float eps, Tensor& y, Tensor* save_mean,
                                Tensor* save_invstd) = nullptr;
  void (*instance_norm_backward)(B, const Tensor& x, const Tensor& dy, const Tensor* gamma,
                                 const Tensor& save_mean, const Tensor& save_invstd, Tensor& dx,
                                 Tensor* dgamma, Tensor* dbeta) = nullptr;
  void (*batch_norm_forward_training)(B, const Tensor& x, const Tensor* gamma,
                                      const Tensor* beta, float eps, float momentum,
                                      Tensor& running_mean, Tensor& running_var, Tensor& y,
                                      Tensor& save_mean, Tensor& save_invstd) = nullptr;
  void (*batch_norm_forward_inference)(B, const Tensor& x, const Tensor* gamma,
                                       const Tensor* beta, const Tensor& running_mean,
                                       const Tensor& running_var, float eps,
                                       Tensor& y) = nullptr;
  void (*batch_norm_backward)(B, const Tensor& x, const Tensor& dy, const Tensor* gamma,
                              const Tensor& save_mean, const Tensor& save_invstd, Tensor& dx,
                              Tensor* dgamma, Tensor* dbeta) = nullptr;
  // elementwise
  void (*activation_forward)(B, Activation a, float alpha, const Tensor& x, Tensor& y) = nullptr;
  void (*activation_backward)(B, Activation a, float alpha, const Tensor& x, const Tensor& y,
                              const Tensor& dy, Tensor& dx) = nullptr;
  void (*activation_sign_bits)(B, const Tensor& t, Tensor& bits) = nullptr;
  void (*activation_backward_bits)(B, Activation a, float alpha, const Tensor& bits,
                                   const Tensor& dy, Tensor& dx) = nullptr;
  void (*fill)(B, Tensor& t, float value) = nullptr;
  void (*copy)(B, const Tensor& src, Tensor& dst) = nullptr;
  void (*add)(B, const Tensor& a, const Tensor& b, Tensor& y) = nullptr;
  void (*axpy)(B, float alpha, const Tensor& x, Tensor& y) = nullptr;
  void (*scale)(B, Tensor& x, float s) = nullptr;
  void (*mul)(B, const Tensor& a, const Tensor& b, Tensor& y) = nullptr;
  double (*sum_squares)(B, const Tensor& x) = nullptr;
  bool (*all_finite)(B, const Tensor& x) = nullptr;
  void (*concat_channels)(B, const Tensor& a, const Tensor& b, Tensor& y) = nullptr;
  void (*split_channels)(B, const Tensor& y, Tensor& a, Tensor& b) = nullptr;
  void (*softmax_channels)(B, const Tensor& x, Tensor& y) = nullptr;
  void (*dropout_forward)(B, const Tensor& x, float p, uint64_t seed, Tensor& y,
                          Tensor& mask) = nullptr;
  // losses and optimizers
  double (*loss_forward_backward)(B, const LossSpec& spec, const Tensor& logits,
                                  const Tensor& target, Tensor* dlogits) = nullptr;
  void (*sgd_update)(B, Tensor& param, const Tensor& grad, Tensor* momentum_buf,
                     const SgdStep& s) = nullptr;
  void (*adam_update)(B, Tensor& param, const Tensor& grad, Tensor& m, Tensor& v,
                      const AdamStep& s) = nullptr;
  // sliding-window inference
  void (*window_accumulate)(B, const Tensor& probs, int64_t n, const Tensor& weight,
                            const std::array<int64_t, 3>& offset, Tensor& accum,
                            Tensor& weight_sum) = nullptr;
  void (*flip_spatial)(B, const Tensor& x, int axes, Tensor& y) = nullptr;
  void (*argmax_channels)(B, const Tensor& x, Tensor& labels) = nullptr;
};

class BackendImpl {
 public:
  virtual ~BackendImpl() = default;
  virtual Device device() const = 0;
  virtual std::string name() const = 0;
  virtual void synchronize() {}
  // A whole-network plan for the graph at this input shape, or null (the per-op path runs).
  virtual std::unique_ptr<InferencePlan> compile(const nn::Graph& graph, const Shape& input) {
    return nullptr;
  }

  BackendOps ops;
};

}  // namespace useg
