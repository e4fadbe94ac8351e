// The Backend front: every op checks its arguments (src/core/op_checks.h: the same checks and
// messages on every device), is timed when an OpTimer is installed, and runs the device's
// implementation from its BackendImpl's table (src/core/backend_impl.h).
#include <chrono>
#include <exception>

#include "core/backend_impl.h"
#include "core/op_checks.h"
#include "useg/error.h"

namespace useg {

namespace {

// Timer keys: the op and its main shape (convolutions add the kernel).
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

// The table entry of an op every device must provide.
template <class F>
F required(F f, const char* op, const BackendImpl& impl) {
  USEG_CHECK(f != nullptr, op << " is not implemented on the " << impl.name() << " backend");
  return f;
}

}  // namespace

Backend::Backend(std::unique_ptr<BackendImpl> impl) : m_impl(std::move(impl)) {
  USEG_CHECK(m_impl != nullptr, "a backend needs an implementation");
}
Backend::~Backend() = default;

Device Backend::device() const { return m_impl->device(); }
std::string Backend::name() const { return m_impl->name(); }
void Backend::synchronize() { m_impl->synchronize(); }

std::unique_ptr<InferencePlan> Backend::compile(const nn::Graph& graph, const Shape& input) {
  return m_impl->compile(graph, input);
}

template <class Key, class F>
auto Backend::timed(Key&& key_of, double gflop, F&& f) -> decltype(f()) {
  if (!m_timer) return f();
  // Records at scope exit, after f (also when it returns a value), unless f threw.
  struct Record {
    Backend& be;
    Key& key_of;
    double gflop;
    std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
    int exceptions = std::uncaught_exceptions();
    ~Record() {
      if (std::uncaught_exceptions() > exceptions) return;
      be.synchronize();
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
              .count();
      be.m_timer->record(key_of(), gflop, ms);
    }
  } record{*this, key_of, gflop};
  return f();
}

#define USEG_OP(name) required(m_impl->ops.name, #name, *m_impl)

// ------------------------------------------------------------------------------ convolution
void Backend::conv_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                           const ConvGeom& g) {
  check_conv_forward("conv_forward", x, w, bias, y, g, device());
  timed([&] { return conv_key("conv_forward", y, g); }, conv_gflop(y, w),
        [&] { USEG_OP(conv_forward)(*m_impl, x, w, bias, y, g); });
}

void Backend::conv_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx,
                                 const ConvGeom& g) {
  check_conv_backward_data("conv_backward_data", dy, w, dx, g, device());
  timed([&] { return conv_key("conv_backward_data", dy, g); }, conv_gflop(dy, w),
        [&] { USEG_OP(conv_backward_data)(*m_impl, dy, w, dx, g); });
}

void Backend::conv_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw,
                                    Tensor* dbias, const ConvGeom& g) {
  check_conv_backward_weights("conv_backward_weights", x, dy, dw, dbias, g, device());
  timed([&] { return conv_key("conv_backward_weights", dy, g); }, conv_gflop(dy, dw),
        [&] { USEG_OP(conv_backward_weights)(*m_impl, x, dy, dw, dbias, g); });
}

Backend::ConvSaved Backend::conv_forward_training(const Tensor& x, const Tensor& w,
                                                  const Tensor* bias, Tensor& y,
                                                  const ConvGeom& g) {
  if (!m_impl->ops.conv_forward_training) {
    conv_forward(x, w, bias, y, g);
    return ConvSaved{nullptr, x.shape()};
  }
  check_conv_forward("conv_forward_training", x, w, bias, y, g, device());
  return ConvSaved{
      timed([&] { return conv_key("conv_forward_training", y, g); }, conv_gflop(y, w),
            [&] { return m_impl->ops.conv_forward_training(*m_impl, x, w, bias, y, g); }),
      x.shape()};
}

void Backend::conv_backward(const Tensor& x, const Tensor& dy, const Tensor& w, Tensor* dx,
                            Tensor& dw, Tensor* dbias, const ConvGeom& g,
                            const ConvSaved& saved) {
  const char* op = "conv_backward";
  USEG_CHECK(x.defined() || saved.holds_input(),
             op << ": the input is an undefined tensor and the saved handle does not hold it "
                   "(only a handle from conv_forward_training that kept the input lets the "
                   "caller release it)");
  USEG_CHECK(!x.defined() || !saved.holds_input() || x.shape() == saved.x_shape,
             op << ": input " << x.shape().str() << " is not the forward's input "
                << saved.x_shape.str() << " the handle was made from");
  if (!m_impl->ops.conv_backward) {
    conv_backward_weights(x, dy, dw, dbias, g);
    if (dx) conv_backward_data(dy, w, *dx, g);
    return;
  }
  const Shape& xs = x.defined() ? x.shape() : saved.x_shape;
  check_conv_backward_weights(op, xs, x.defined() ? x.device() : device(), dy, dw, dbias, g,
                              device());
  if (dx) check_conv_backward_data(op, dy, w, *dx, g, device());
  timed([&] {
          return conv_key(dx ? "conv_backward (data + weights)" : "conv_backward (weights)", dy,
                          g);
        },
        (dx ? 2 : 1) * conv_gflop(dy, w),
        [&] { m_impl->ops.conv_backward(*m_impl, x, xs, dy, w, dx, dw, dbias, g, saved.input); });
}

void Backend::deconv_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                             const ConvGeom& g) {
  check_deconv_forward(x, w, bias, y, g, device());
  timed([&] { return conv_key("deconv_forward", y, g); }, conv_gflop(x, w),
        [&] { USEG_OP(deconv_forward)(*m_impl, x, w, bias, y, g); });
}

void Backend::deconv_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx,
                                   const ConvGeom& g) {
  check_deconv_backward_data(dy, w, dx, g, device());
  timed([&] { return conv_key("deconv_backward_data", dy, g); }, conv_gflop(dx, w),
        [&] { USEG_OP(deconv_backward_data)(*m_impl, dy, w, dx, g); });
}

void Backend::deconv_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw,
                                      Tensor* dbias, const ConvGeom& g) {
  check_deconv_backward_weights(x, dy, dw, dbias, g, device());
  timed([&] { return conv_key("deconv_backward_weights", dy, g); }, conv_gflop(x, dw),
        [&] { USEG_OP(deconv_backward_weights)(*m_impl, x, dy, dw, dbias, g); });
}

// ------------------------------------------------------------------------------ max pooling
void Backend::maxpool_forward(const Tensor& x, Tensor& y, const PoolGeom& g) {
  check_maxpool_forward(x, y, g, device());
  timed([&] { return key("maxpool_forward", x); }, 0,
        [&] { USEG_OP(maxpool_forward)(*m_impl, x, y, g); });
}

void Backend::maxpool_backward(const Tensor& x, const Tensor& dy, Tensor& dx, const PoolGeom& g) {
  check_maxpool_backward(x, dy, dx, g, device());
  timed([&] { return key("maxpool_backward", x); }, 0,
        [&] { USEG_OP(maxpool_backward)(*m_impl, x, dy, dx, g); });
}

void Backend::maxpool_offsets(const Tensor& x, Tensor& offsets, const PoolGeom& g) {
  check_maxpool_offsets(x, offsets, g, device());
  timed([&] { return key("maxpool_offsets", x); }, 0,
        [&] { USEG_OP(maxpool_offsets)(*m_impl, x, offsets, g); });
}

void Backend::maxpool_backward_offsets(const Tensor& offsets, const Tensor& dy, Tensor& dx,
                                       const PoolGeom& g) {
  check_maxpool_backward_offsets(offsets, dy, dx, g, device());
  timed([&] { return key("maxpool_backward_offsets", dx); }, 0,
        [&] { USEG_OP(maxpool_backward_offsets)(*m_impl, offsets, dy, dx, g); });
}

// --------------------------------------------------------------------------- average pooling
void Backend::avgpool_forward(const Tensor& x, Tensor& y, const PoolGeom& g) {
  check_avgpool_forward(x, y, g, device());
  timed([&] { return key("avgpool_forward", x); }, 0,
        [&] { USEG_OP(avgpool_forward)(*m_impl, x, y, g); });
}

void Backend::avgpool_backward(const Tensor& dy, Tensor& dx, const PoolGeom& g) {
  check_avgpool_backward(dy, dx, g, device());
  timed([&] { return key("avgpool_backward", dx); }, 0,
        [&] { USEG_OP(avgpool_backward)(*m_impl, dy, dx, g); });
}

void Backend::global_avg_pool_forward(const Tensor& x, Tensor& y) {
  check_global_avg_pool("global_avg_pool_forward", x, "x", y, "y", device());
  timed([&] { return key("global_avg_pool_forward", x); }, 0,
        [&] { USEG_OP(global_avg_pool_forward)(*m_impl, x, y); });
}

void Backend::global_avg_pool_backward(const Tensor& dy, Tensor& dx) {
  check_global_avg_pool("global_avg_pool_backward", dx, "dx", dy, "dy", device());
  timed([&] { return key("global_avg_pool_backward", dx); }, 0,
        [&] { USEG_OP(global_avg_pool_backward)(*m_impl, dy, dx); });
}

// ---------------------------------------------------------------------------- normalization
void Backend::instance_norm_forward(const Tensor& x, const Tensor* gamma, const Tensor* beta,
                                    float eps, Tensor& y, Tensor* save_mean,
                                    Tensor* save_invstd) {
  const char* op = "instance_norm_forward";
  check_norm_forward(op, x, gamma, beta, eps, y, device());
  const int64_t groups = x.shape().n() * x.shape().c();
  if (save_mean) check_vector(op, "save_mean", *save_mean, groups, "N*C", device());
  if (save_invstd) check_vector(op, "save_invstd", *save_invstd, groups, "N*C", device());
  timed([&] { return key(op, x); }, 0, [&] {
    USEG_OP(instance_norm_forward)(*m_impl, x, gamma, beta, eps, y, save_mean, save_invstd);
  });
}

void Backend::instance_norm_backward(const Tensor& x, const Tensor& dy, const Tensor* gamma,
                                     const Tensor& save_mean, const Tensor& save_invstd,
                                     Tensor& dx, Tensor* dgamma, Tensor* dbeta) {
  const char* op = "instance_norm_backward";
  check_norm_backward(op, x, dy, gamma, save_mean, save_invstd, x.shape().n() * x.shape().c(),
                      "N*C", dx, dgamma, dbeta, device());
  timed([&] { return key(op, x); }, 0, [&] {
    USEG_OP(instance_norm_backward)(*m_impl, x, dy, gamma, save_mean, save_invstd, dx, dgamma,
                                    dbeta);
  });
}

void Backend::batch_norm_forward_training(const Tensor& x, const Tensor* gamma,
                                          const Tensor* beta, float eps, float momentum,
                                          Tensor& running_mean, Tensor& running_var, Tensor& y,
                                          Tensor& save_mean, Tensor& save_invstd) {
  const char* op = "batch_norm_forward_training";
  check_norm_forward(op, x, gamma, beta, eps, y, device());
  check_batch_norm_training(op, x, momentum, running_mean, running_var, save_mean, save_invstd,
                            device());
  timed([&] { return key(op, x); }, 0, [&] {
    USEG_OP(batch_norm_forward_training)(*m_impl, x, gamma, beta, eps, momentum, running_mean,
                                         running_var, y, save_mean, save_invstd);
  });
}

void Backend::batch_norm_forward_inference(const Tensor& x, const Tensor* gamma,
                                           const Tensor* beta, const Tensor& running_mean,
                                           const Tensor& running_var, float eps, Tensor& y) {
  const char* op = "batch_norm_forward_inference";
  check_norm_forward(op, x, gamma, beta, eps, y, device());
  check_channel_param(op, "running_mean", running_mean, x, device());
  check_channel_param(op, "running_var", running_var, x, device());
  timed([&] { return key(op, x); }, 0, [&] {
    USEG_OP(batch_norm_forward_inference)(*m_impl, x, gamma, beta, running_mean, running_var,
                                          eps, y);
  });
}

void Backend::batch_norm_backward(const Tensor& x, const Tensor& dy, const Tensor* gamma,
                                  const Tensor& save_mean, const Tensor& save_invstd, Tensor& dx,
                                  Tensor* dgamma, Tensor* dbeta) {
  const char* op = "batch_norm_backward";
  check_norm_backward(op, x, dy, gamma, save_mean, save_invstd, x.shape().c(), "C", dx, dgamma,
                      dbeta, device());
  timed([&] { return key(op, x); }, 0, [&] {
    USEG_OP(batch_norm_backward)(*m_impl, x, dy, gamma, save_mean, save_invstd, dx, dgamma,
                                 dbeta);
  });
}

// ------------------------------------------------------------------------------ elementwise
void Backend::activation_forward(Activation a, float alpha, const Tensor& x, Tensor& y) {
  check_activation_forward(x, y, device());
  timed([&] { return key("activation_forward", x); }, 0,
        [&] { USEG_OP(activation_forward)(*m_impl, a, alpha, x, y); });
}

void Backend::activation_backward(Activation a, float alpha, const Tensor& x, const Tensor& y,
                                  const Tensor& dy, Tensor& dx) {
  check_activation_backward(a, x, y, dy, dx, device());
  timed([&] { return key("activation_backward", x.defined() ? x : y); }, 0,
        [&] { USEG_OP(activation_backward)(*m_impl, a, alpha, x, y, dy, dx); });
}

void Backend::activation_sign_bits(const Tensor& t, Tensor& bits) {
  check_activation_sign_bits(t, bits, device());
  timed([&] { return key("activation_sign_bits", t); }, 0,
        [&] { USEG_OP(activation_sign_bits)(*m_impl, t, bits); });
}

void Backend::activation_backward_bits(Activation a, float alpha, const Tensor& bits,
                                       const Tensor& dy, Tensor& dx) {
  check_activation_backward_bits(a, bits, dy, dx, device());
  timed([&] { return key("activation_backward_bits", dy); }, 0,
        [&] { USEG_OP(activation_backward_bits)(*m_impl, a, alpha, bits, dy, dx); });
}

void Backend::fill(Tensor& t, float value) {
  check_tensor("fill", "t", t, device());
  timed([] { return std::string("fill"); }, 0, [&] { USEG_OP(fill)(*m_impl, t, value); });
}

void Backend::copy(const Tensor& src, Tensor& dst) {
  check_tensor("copy", "src", src, device());
  check_tensor("copy", "dst", dst, device());
  check_same_shape("copy", "src", src, "dst", dst);
  timed([&] { return key("copy", src); }, 0, [&] { USEG_OP(copy)(*m_impl, src, dst); });
}

void Backend::add(const Tensor& a, const Tensor& b, Tensor& y) {
  check_binary("add", a, b, y, device());
  timed([&] { return key("add", a); }, 0, [&] { USEG_OP(add)(*m_impl, a, b, y); });
}

void Backend::axpy(float alpha, const Tensor& x, Tensor& y) {
  check_tensor("axpy", "x", x, device());
  check_tensor("axpy", "y", y, device());
  check_same_shape("axpy", "x", x, "y", y);
  timed([] { return std::string("axpy"); }, 0, [&] { USEG_OP(axpy)(*m_impl, alpha, x, y); });
}

void Backend::scale(Tensor& x, float s) {
  check_tensor("scale", "x", x, device());
  timed([] { return std::string("scale"); }, 0, [&] { USEG_OP(scale)(*m_impl, x, s); });
}

void Backend::mul(const Tensor& a, const Tensor& b, Tensor& y) {
  check_binary("mul", a, b, y, device());
  timed([&] { return key("mul", a); }, 0, [&] { USEG_OP(mul)(*m_impl, a, b, y); });
}

double Backend::sum_squares(const Tensor& x) {
  check_tensor("sum_squares", "x", x, device());
  return timed([] { return std::string("sum_squares"); }, 0,
               [&] { return USEG_OP(sum_squares)(*m_impl, x); });
}

bool Backend::all_finite(const Tensor& x) {
  check_tensor("all_finite", "x", x, device());
  return timed([] { return std::string("all_finite"); }, 0,
               [&] { return USEG_OP(all_finite)(*m_impl, x); });
}

void Backend::concat_channels(const Tensor& a, const Tensor& b, Tensor& y) {
  check_concat("concat_channels", a, b, y, device());
  timed([&] { return key("concat_channels", y); }, 0,
        [&] { USEG_OP(concat_channels)(*m_impl, a, b, y); });
}

void Backend::split_channels(const Tensor& y, Tensor& a, Tensor& b) {
  check_concat("split_channels", a, b, y, device());
  timed([&] { return key("split_channels", y); }, 0,
        [&] { USEG_OP(split_channels)(*m_impl, y, a, b); });
}

void Backend::softmax_channels(const Tensor& x, Tensor& y) {
  check_softmax(x, y, device());
  timed([&] { return key("softmax_channels", x); }, 0,
        [&] { USEG_OP(softmax_channels)(*m_impl, x, y); });
}

void Backend::dropout_forward(const Tensor& x, float p, uint64_t seed, Tensor& y, Tensor& mask) {
  check_dropout(x, p, y, mask, device());
  timed([&] { return key("dropout_forward", x); }, 0,
        [&] { USEG_OP(dropout_forward)(*m_impl, x, p, seed, y, mask); });
}

// -------------------------------------------------------------------- losses and optimizers
double Backend::loss_forward_backward(const LossSpec& spec, const Tensor& logits,
                                      const Tensor& target, Tensor* dlogits) {
  check_loss(spec, logits, target, dlogits, device());
  return timed([&] { return key("loss_forward_backward", logits); }, 0, [&] {
    return USEG_OP(loss_forward_backward)(*m_impl, spec, logits, target, dlogits);
  });
}

void Backend::sgd_update(Tensor& param, const Tensor& grad, Tensor* momentum_buf,
                         const SgdStep& s) {
  check_sgd(param, grad, momentum_buf, s, device());
  timed([] { return std::string("sgd_update (all parameters)"); }, 0,
        [&] { USEG_OP(sgd_update)(*m_impl, param, grad, momentum_buf, s); });
}

void Backend::adam_update(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v,
                          const AdamStep& s) {
  check_adam(param, grad, m, v, s, device());
  timed([] { return std::string("adam_update (all parameters)"); }, 0,
        [&] { USEG_OP(adam_update)(*m_impl, param, grad, m, v, s); });
}

// ----------------------------------------------------------------- sliding-window inference
void Backend::window_accumulate(const Tensor& probs, int64_t n, const Tensor& weight,
                                const std::array<int64_t, 3>& offset, Tensor& accum,
                                Tensor& weight_sum) {
  check_window_accumulate(probs, n, weight, accum, weight_sum, device());
  timed([] { return std::string("window_accumulate"); }, 0, [&] {
    USEG_OP(window_accumulate)(*m_impl, probs, n, weight, offset, accum, weight_sum);
  });
}

void Backend::flip_spatial(const Tensor& x, int axes, Tensor& y) {
  check_flip(x, axes, y, device());
  timed([&] { return key("flip_spatial", x); }, 0,
        [&] { USEG_OP(flip_spatial)(*m_impl, x, axes, y); });
}

void Backend::argmax_channels(const Tensor& x, Tensor& labels) {
  check_argmax(x, labels, device());
  timed([&] { return key("argmax_channels", x); }, 0,
        [&] { USEG_OP(argmax_channels)(*m_impl, x, labels); });
}

}  // namespace useg
