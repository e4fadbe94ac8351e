// ProfilingBackend: each op forwards to the wrapped backend inside timed(), keyed by the op and
// its main shape; convolutions also count their analytic FLOPs (2 per multiply-add).
#include "cli/bench_profiler.h"

#include <chrono>

namespace useg::cli {

namespace {

std::string key(const char* op, const Tensor& t) { return std::string(op) + " " + t.shape().str(); }

std::string conv_key(const char* op, const Tensor& out, const ConvGeom& g) {
  return key(op, out) + " k" + std::to_string(g.kernel[0]) + "x" + std::to_string(g.kernel[1]) +
         "x" + std::to_string(g.kernel[2]);
}

// A convolution's FLOPs from its output (or a transposed conv's input) and weight shapes.
double conv_gflop(const Tensor& y, const Tensor& w) {
  const Shape& s = y.shape();
  const Shape& ws = w.shape();
  double macs = double(s.n()) * double(s.spatial()) * double(ws[0]) * double(ws[1]) *
                double(ws[2]) * double(ws[3]) * double(ws[4]);
  return 2.0 * macs * 1e-9;
}

}  // namespace

template <class F>
auto ProfilingBackend::timed(const std::string& k, double gflop, F&& f) -> decltype(f()) {
  if (!m_enabled) return f();
  auto t0 = std::chrono::steady_clock::now();
  struct Done {
    ProfilingBackend& self;
    const std::string& k;
    double gflop;
    std::chrono::steady_clock::time_point t0;
    ~Done() {
      self.m_in.synchronize();
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                      .count();
      auto it = self.m_index.find(k);
      if (it == self.m_index.end()) {
        it = self.m_index.emplace(k, self.m_entries.size()).first;
        self.m_entries.push_back({k});
      }
      Entry& e = self.m_entries[it->second];
      e.ms += ms;
      e.gflop += gflop;
      e.calls += 1;
    }
  } done{*this, k, gflop, t0};
  return f();
}

void ProfilingBackend::conv_forward(const Tensor& x, const Tensor& w, const Tensor* bias,
                                    Tensor& y, const ConvGeom& g) {
  timed(conv_key("conv_forward", y, g), conv_gflop(y, w),
        [&] { m_in.conv_forward(x, w, bias, y, g); });
}
void ProfilingBackend::conv_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx,
                                          const ConvGeom& g) {
  timed(conv_key("conv_backward_data", dy, g), conv_gflop(dy, w),
        [&] { m_in.conv_backward_data(dy, w, dx, g); });
}
void ProfilingBackend::conv_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw,
                                             Tensor* dbias, const ConvGeom& g) {
  timed(conv_key("conv_backward_weights", dy, g), conv_gflop(dy, dw),
        [&] { m_in.conv_backward_weights(x, dy, dw, dbias, g); });
}
Backend::ConvSaved ProfilingBackend::conv_forward_training(const Tensor& x, const Tensor& w,
                                                           const Tensor* bias, Tensor& y,
                                                           const ConvGeom& g) {
  return timed(conv_key("conv_forward_training", y, g), conv_gflop(y, w),
               [&] { return m_in.conv_forward_training(x, w, bias, y, g); });
}
void ProfilingBackend::conv_backward(const Tensor& x, const Tensor& dy, const Tensor& w,
                                     Tensor* dx, Tensor& dw, Tensor* dbias, const ConvGeom& g,
                                     const ConvSaved& saved) {
  timed(conv_key(dx ? "conv_backward (data + weights)" : "conv_backward (weights)", dy, g),
        (dx ? 2 : 1) * conv_gflop(dy, w),
        [&] { m_in.conv_backward(x, dy, w, dx, dw, dbias, g, saved); });
}
void ProfilingBackend::deconv_forward(const Tensor& x, const Tensor& w, const Tensor* bias,
                                      Tensor& y, const ConvGeom& g) {
  timed(conv_key("deconv_forward", y, g), conv_gflop(x, w),
        [&] { m_in.deconv_forward(x, w, bias, y, g); });
}
void ProfilingBackend::deconv_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx,
                                            const ConvGeom& g) {
  timed(conv_key("deconv_backward_data", dy, g), conv_gflop(dx, w),
        [&] { m_in.deconv_backward_data(dy, w, dx, g); });
}
void ProfilingBackend::deconv_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw,
                                               Tensor* dbias, const ConvGeom& g) {
  timed(conv_key("deconv_backward_weights", dy, g), conv_gflop(x, dw),
        [&] { m_in.deconv_backward_weights(x, dy, dw, dbias, g); });
}
void ProfilingBackend::maxpool_forward(const Tensor& x, Tensor& y, const PoolGeom& g) {
  timed(key("maxpool_forward", x), 0, [&] { m_in.maxpool_forward(x, y, g); });
}
void ProfilingBackend::maxpool_backward(const Tensor& x, const Tensor& dy, Tensor& dx,
                                        const PoolGeom& g) {
  timed(key("maxpool_backward", x), 0, [&] { m_in.maxpool_backward(x, dy, dx, g); });
}
void ProfilingBackend::instance_norm_forward(const Tensor& x, const Tensor* gamma,
                                             const Tensor* beta, float eps, Tensor& y,
                                             Tensor* save_mean, Tensor* save_invstd) {
  timed(key("instance_norm_forward", x), 0,
        [&] { m_in.instance_norm_forward(x, gamma, beta, eps, y, save_mean, save_invstd); });
}
void ProfilingBackend::instance_norm_backward(const Tensor& x, const Tensor& dy,
                                              const Tensor* gamma, const Tensor& save_mean,
                                              const Tensor& save_invstd, Tensor& dx,
                                              Tensor* dgamma, Tensor* dbeta) {
  timed(key("instance_norm_backward", x), 0, [&] {
    m_in.instance_norm_backward(x, dy, gamma, save_mean, save_invstd, dx, dgamma, dbeta);
  });
}
void ProfilingBackend::batch_norm_forward_training(const Tensor& x, const Tensor* gamma,
                                                   const Tensor* beta, float eps, float momentum,
                                                   Tensor& running_mean, Tensor& running_var,
                                                   Tensor& y, Tensor& save_mean,
                                                   Tensor& save_invstd) {
  timed(key("batch_norm_forward_training", x), 0, [&] {
    m_in.batch_norm_forward_training(x, gamma, beta, eps, momentum, running_mean, running_var, y,
                                     save_mean, save_invstd);
  });
}
void ProfilingBackend::batch_norm_forward_inference(const Tensor& x, const Tensor* gamma,
                                                    const Tensor* beta,
                                                    const Tensor& running_mean,
                                                    const Tensor& running_var, float eps,
                                                    Tensor& y) {
  timed(key("batch_norm_forward_inference", x), 0, [&] {
    m_in.batch_norm_forward_inference(x, gamma, beta, running_mean, running_var, eps, y);
  });
}
void ProfilingBackend::batch_norm_backward(const Tensor& x, const Tensor& dy, const Tensor* gamma,
                                           const Tensor& save_mean, const Tensor& save_invstd,
                                           Tensor& dx, Tensor* dgamma, Tensor* dbeta) {
  timed(key("batch_norm_backward", x), 0, [&] {
    m_in.batch_norm_backward(x, dy, gamma, save_mean, save_invstd, dx, dgamma, dbeta);
  });
}
void ProfilingBackend::activation_forward(Activation a, float alpha, const Tensor& x, Tensor& y) {
  timed(key("activation_forward", x), 0, [&] { m_in.activation_forward(a, alpha, x, y); });
}
void ProfilingBackend::activation_backward(Activation a, float alpha, const Tensor& x,
                                           const Tensor& y, const Tensor& dy, Tensor& dx) {
  timed(key("activation_backward", x), 0,
        [&] { m_in.activation_backward(a, alpha, x, y, dy, dx); });
}
void ProfilingBackend::fill(Tensor& t, float value) {
  timed("fill", 0, [&] { m_in.fill(t, value); });
}
void ProfilingBackend::copy(const Tensor& src, Tensor& dst) {
  timed(key("copy", src), 0, [&] { m_in.copy(src, dst); });
}
void ProfilingBackend::add(const Tensor& a, const Tensor& b, Tensor& y) {
  timed(key("add", a), 0, [&] { m_in.add(a, b, y); });
}
void ProfilingBackend::axpy(float alpha, const Tensor& x, Tensor& y) {
  timed("axpy", 0, [&] { m_in.axpy(alpha, x, y); });
}
void ProfilingBackend::scale(Tensor& x, float s) {
  timed("scale", 0, [&] { m_in.scale(x, s); });
}
void ProfilingBackend::mul(const Tensor& a, const Tensor& b, Tensor& y) {
  timed(key("mul", a), 0, [&] { m_in.mul(a, b, y); });
}
double ProfilingBackend::sum_squares(const Tensor& x) {
  return timed("sum_squares", 0, [&] { return m_in.sum_squares(x); });
}
bool ProfilingBackend::all_finite(const Tensor& x) {
  return timed("all_finite", 0, [&] { return m_in.all_finite(x); });
}
void ProfilingBackend::concat_channels(const Tensor& a, const Tensor& b, Tensor& y) {
  timed(key("concat_channels", y), 0, [&] { m_in.concat_channels(a, b, y); });
}
void ProfilingBackend::split_channels(const Tensor& y, Tensor& a, Tensor& b) {
  timed(key("split_channels", y), 0, [&] { m_in.split_channels(y, a, b); });
}
void ProfilingBackend::softmax_channels(const Tensor& x, Tensor& y) {
  timed(key("softmax_channels", x), 0, [&] { m_in.softmax_channels(x, y); });
}
void ProfilingBackend::dropout_forward(const Tensor& x, float p, uint64_t seed, Tensor& y,
                                       Tensor& mask) {
  timed(key("dropout_forward", x), 0, [&] { m_in.dropout_forward(x, p, seed, y, mask); });
}
double ProfilingBackend::loss_forward_backward(const LossSpec& spec, const Tensor& logits,
                                               const Tensor& target, Tensor* dlogits) {
  return timed(key("loss_forward_backward", logits), 0,
               [&] { return m_in.loss_forward_backward(spec, logits, target, dlogits); });
}
void ProfilingBackend::sgd_update(Tensor& param, const Tensor& grad, Tensor* momentum_buf,
                                  const SgdStep& s) {
  timed("sgd_update (all parameters)", 0, [&] { m_in.sgd_update(param, grad, momentum_buf, s); });
}
void ProfilingBackend::adam_update(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v,
                                   const AdamStep& s) {
  timed("adam_update (all parameters)", 0, [&] { m_in.adam_update(param, grad, m, v, s); });
}
void ProfilingBackend::window_accumulate(const Tensor& probs, int64_t n, const Tensor& weight,
                                         const std::array<int64_t, 3>& offset, Tensor& accum,
                                         Tensor& weight_sum) {
  timed("window_accumulate", 0,
        [&] { m_in.window_accumulate(probs, n, weight, offset, accum, weight_sum); });
}
void ProfilingBackend::flip_spatial(const Tensor& x, int axes, Tensor& y) {
  timed(key("flip_spatial", x), 0, [&] { m_in.flip_spatial(x, axes, y); });
}
void ProfilingBackend::argmax_channels(const Tensor& x, Tensor& labels) {
  timed(key("argmax_channels", x), 0, [&] { m_in.argmax_channels(x, labels); });
}

}  // namespace useg::cli
