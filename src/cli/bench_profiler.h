// A Backend that forwards every op to another backend and adds up its wall time per op and
// shape, for `useg bench` (per-layer numbers of the per-op forward and of a training step).
// It synchronizes the wrapped backend after each op so a time belongs to its op.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "useg/backend.h"

namespace useg::cli {

class ProfilingBackend final : public Backend {
 public:
  explicit ProfilingBackend(Backend& inner) : m_in(inner) {}

  struct Entry {
    std::string key;  // op and its main shape, e.g. "conv_forward [4, 32, 1, 256, 256] k3"
    double ms = 0, gflop = 0;
    int64_t calls = 0;
  };
  // In order of first appearance.
  std::vector<Entry> entries() const { return m_entries; }
  void reset() { m_entries.clear(), m_index.clear(); }
  void set_enabled(bool on) { m_enabled = on; }

  Device device() const override { return m_in.device(); }
  std::string name() const override { return m_in.name(); }
  void synchronize() override { m_in.synchronize(); }

  void conv_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                    const ConvGeom& g) override;
  void conv_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx,
                          const ConvGeom& g) override;
  void conv_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor* dbias,
                             const ConvGeom& g) override;
  ConvSaved conv_forward_training(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                                  const ConvGeom& g) override;
  void conv_backward(const Tensor& x, const Tensor& dy, const Tensor& w, Tensor* dx, Tensor& dw,
                     Tensor* dbias, const ConvGeom& g, const ConvSaved& saved) override;
  void deconv_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                      const ConvGeom& g) override;
  void deconv_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx,
                            const ConvGeom& g) override;
  void deconv_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor* dbias,
                               const ConvGeom& g) override;
  void maxpool_forward(const Tensor& x, Tensor& y, const PoolGeom& g) override;
  void maxpool_backward(const Tensor& x, const Tensor& dy, Tensor& dx,
                        const PoolGeom& g) override;
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
  double loss_forward_backward(const LossSpec& spec, const Tensor& logits, const Tensor& target,
                               Tensor* dlogits) override;
  void sgd_update(Tensor& param, const Tensor& grad, Tensor* momentum_buf,
                  const SgdStep& s) override;
  void adam_update(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v,
                   const AdamStep& s) override;
  void window_accumulate(const Tensor& probs, int64_t n, const Tensor& weight,
                         const std::array<int64_t, 3>& offset, Tensor& accum,
                         Tensor& weight_sum) override;
  void flip_spatial(const Tensor& x, int axes, Tensor& y) override;
  void argmax_channels(const Tensor& x, Tensor& labels) override;
  std::unique_ptr<InferencePlan> compile(const nn::Graph& graph, const Shape& input) override {
    return m_in.compile(graph, input);
  }

 private:
  template <class F>
  auto timed(const std::string& key, double gflop, F&& f) -> decltype(f());

  Backend& m_in;
  bool m_enabled = true;
  std::vector<Entry> m_entries;
  std::map<std::string, size_t> m_index;
};

}  // namespace useg::cli
