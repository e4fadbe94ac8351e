// The CPU backend: oneDNN primitives for convolution, transposed convolution and pooling
// (src/cpu/dnnl_*.cpp), OpenMP loops over the math in src/ops for everything else. Each group of
// ops is defined in its own file; this header only declares the class.
#pragma once

#include <memory>

#include "useg/backend.h"

namespace useg::cpu {

struct DnnlContext;  // oneDNN engine, stream and primitive cache (src/cpu/dnnl_context.h)

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(const BackendOptions& opts);
  ~CpuBackend() override;

  Device device() const override { return Device::CPU; }
  std::string name() const override { return "cpu"; }
  DnnlContext& dnnl() { return *m_dnnl; }

  // dnnl_conv.cpp
  void conv_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                    const ConvGeom& g) override;
  void conv_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx,
                          const ConvGeom& g) override;
  void conv_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor* dbias,
                             const ConvGeom& g) override;
  // Training: the input stays blocked from forward to backward and dy is reordered once.
  ConvSaved conv_forward_training(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                                  const ConvGeom& g) override;
  void conv_backward(const Tensor& x, const Tensor& dy, const Tensor& w, Tensor* dx, Tensor& dw,
                     Tensor* dbias, const ConvGeom& g, const ConvSaved& saved) override;
  // dnnl_deconv.cpp
  void deconv_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                      const ConvGeom& g) override;
  void deconv_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx,
                            const ConvGeom& g) override;
  void deconv_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor* dbias,
                               const ConvGeom& g) override;
  // dnnl_pool.cpp
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
  // window.cpp
  void window_accumulate(const Tensor& probs, int64_t n, const Tensor& weight,
                         const std::array<int64_t, 3>& offset, Tensor& accum,
                         Tensor& weight_sum) override;
  void argmax_channels(const Tensor& x, Tensor& labels) override;
  // flip.cpp
  void flip_spatial(const Tensor& x, int axes, Tensor& y) override;
  // inference_plan.cpp
  std::unique_ptr<InferencePlan> compile(const nn::Graph& graph, const Shape& input) override;

 private:
  std::unique_ptr<DnnlContext> m_dnnl;
  bool m_winograd = true;  // BackendOptions::conv_algorithm != "direct"
};

}  // namespace useg::cpu
