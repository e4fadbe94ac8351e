// Checks of the losses, optimizers, sliding-window ops, flip, pooling and convolution.
#include <sstream>
#include <string>

#include "core/op_checks.h"
#include "useg/error.h"

namespace useg {

// --------------------------------------------------------------------- losses and optimizers

LossTarget check_loss(const LossSpec& spec, const Tensor& logits, const Tensor& target,
                      const Tensor* dlogits, Device device) {
  const char* op = "loss_forward_backward";
  check_activation(op, "logits", logits, device);
  check_not_empty(op, "logits", logits);
  check_activation(op, "target", target, device);
  if (dlogits) {
    check_activation(op, "dlogits", *dlogits, device);
    check_same_shape(op, "logits", logits, "dlogits", *dlogits);
    USEG_CHECK(dlogits->data() != logits.data(),
               op << ": dlogits must not alias logits (the gradient reads every channel)");
  }
  const bool elementwise = spec.kind == LossKind::MSE || spec.kind == LossKind::Hinge;
  USEG_CHECK(elementwise || spec.kind == LossKind::CrossEntropy || spec.kind == LossKind::Dice ||
                 spec.kind == LossKind::DiceCE,
             op << ": unknown loss kind " << int(spec.kind));
  const Shape& s = logits.shape();
  Shape label_shape = s;
  label_shape[1] = 1;
  // MSE and hinge take a dense target shaped like the logits; with C = 1 a [N, 1, ...] target
  // is read as dense (a label map of one class could only hold zeros).
  const bool dense = elementwise && target.shape() == s;
  USEG_CHECK(dense || target.shape() == label_shape,
             op << " (" << loss_name(spec.kind) << "): target " << target.shape().str()
                << " must be a label map " << label_shape.str()
                << (elementwise ? " or shaped like the logits " : " for logits ") << s.str());
  return {elementwise, dense};
}

bool check_sgd(const Tensor& param, const Tensor& grad, const Tensor* momentum_buf,
               const SgdStep& s, Device device) {
  const char* op = "sgd_update";
  check_tensor(op, "param", param, device);
  check_tensor(op, "grad", grad, device);
  check_same_shape(op, "param", param, "grad", grad);
  USEG_CHECK(s.momentum >= 0.f, op << ": momentum " << s.momentum << " must be >= 0");
  USEG_CHECK(!s.nesterov || s.momentum > 0.f,
             op << ": Nesterov momentum requires momentum > 0 (got " << s.momentum << ")");
  const bool use_buf = s.momentum != 0.f;
  USEG_CHECK(!use_buf || momentum_buf, op << ": momentum " << s.momentum << " for param "
                                          << param.shape().str()
                                          << " needs a momentum buffer (got none)");
  if (use_buf) {
    check_tensor(op, "momentum_buf", *momentum_buf, device);
    check_same_shape(op, "param", param, "momentum_buf", *momentum_buf);
  }
  return use_buf;
}

void check_adam(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v,
                const AdamStep& s, Device device) {
  const char* op = "adam_update";
  check_tensor(op, "param", param, device);
  check_tensor(op, "grad", grad, device);
  check_tensor(op, "m", m, device);
  check_tensor(op, "v", v, device);
  check_same_shape(op, "param", param, "grad", grad);
  check_same_shape(op, "param", param, "m", m);
  check_same_shape(op, "param", param, "v", v);
  USEG_CHECK(s.step >= 1, op << ": step " << s.step << " must be >= 1 (it counts from 1)");
  USEG_CHECK(s.beta1 >= 0.f && s.beta1 < 1.f && s.beta2 >= 0.f && s.beta2 < 1.f,
             op << ": betas (" << s.beta1 << ", " << s.beta2 << ") must be in [0, 1)");
}

// ----------------------------------------------------------- sliding window and mirroring

void check_window_accumulate(const Tensor& probs, int64_t n, const Tensor& weight,
                             const Tensor& accum, const Tensor& weight_sum, Device device) {
  const char* op = "window_accumulate";
  check_activation(op, "probs", probs, device);
  check_activation(op, "weight", weight, device);
  check_activation(op, "accum", accum, device);
  check_activation(op, "weight_sum", weight_sum, device);
  const Shape &ps = probs.shape(), &ws = weight.shape(), &as = accum.shape(),
              &ss = weight_sum.shape();
  USEG_CHECK(n >= 0 && n < ps.n(),
             op << ": window " << n << " is out of range for probs " << ps.str());
  USEG_CHECK(ws == Shape::ncdhw(1, 1, ps.d(), ps.h(), ps.w()),
             op << ": weight " << ws.str() << " must be [1, 1, " << ps.d() << ", " << ps.h() << ", "
                << ps.w() << "] (the window of probs " << ps.str() << ")");
  USEG_CHECK(as.n() == 1 && as.c() == ps.c(), op << ": accum " << as.str() << " must be [1, "
                                                 << ps.c() << ", D, H, W] for probs " << ps.str());
  USEG_CHECK(ss == Shape::ncdhw(1, 1, as.d(), as.h(), as.w()),
             op << ": weight_sum " << ss.str() << " must be [1, 1, " << as.d() << ", " << as.h()
                << ", " << as.w() << "] (the volume of accum " << as.str() << ")");
}

void check_argmax(const Tensor& x, const Tensor& labels, Device device) {
  const char* op = "argmax_channels";
  check_activation(op, "x", x, device);
  check_activation(op, "labels", labels, device);
  const Shape& s = x.shape();
  USEG_CHECK(labels.shape() == Shape::ncdhw(s.n(), 1, s.d(), s.h(), s.w()),
             op << ": labels " << labels.shape().str() << " must be [" << s.n() << ", 1, " << s.d()
                << ", " << s.h() << ", " << s.w() << "] for x " << s.str());
  USEG_CHECK(s.c() >= 1, op << ": x " << s.str() << " has no channels");
}

void check_flip(const Tensor& x, int axes, const Tensor& y, Device device) {
  const char* op = "flip_spatial";
  check_activation(op, "x", x, device);
  check_activation(op, "y", y, device);
  USEG_CHECK(x.shape() == y.shape(), "flip_spatial: output " << y.shape().str()
                                                              << " differs from input "
                                                              << x.shape().str());
  USEG_CHECK(x.data() != y.data(), "flip_spatial: output must not alias the input");
  USEG_CHECK(axes >= 0 && axes < 8, "flip_spatial: axes mask " << axes << " outside 0..7");
}

// ---------------------------------------------------------------- pooling and convolution

namespace {

std::string geom_str(const std::array<int, 3>& k, const std::array<int, 3>& s) {
  std::ostringstream os;
  os << "kernel [" << k[0] << ", " << k[1] << ", " << k[2] << "] stride [" << s[0] << ", " << s[1]
     << ", " << s[2] << "]";
  return os.str();
}

void check_pool_geom(const char* op, const PoolGeom& g) {
  for (int a = 0; a < 3; ++a)
    USEG_CHECK(g.kernel[a] >= 1 && g.stride[a] >= 1,
               op << ": invalid pooling " << geom_str(g.kernel, g.stride));
}

}  // namespace

void check_maxpool_forward(const Tensor& x, const Tensor& y, const PoolGeom& g, Device device) {
  const char* op = "maxpool_forward";
  check_activation(op, "x", x, device);
  check_activation(op, "y", y, device);
  check_pool_geom(op, g);
  const Shape expected = pool_output_shape(x.shape(), g);
  USEG_CHECK(y.shape() == expected, op << ": y " << y.shape().str() << " must be "
                                       << expected.str() << " for x " << x.shape().str()
                                       << " and " << geom_str(g.kernel, g.stride));
}

void check_maxpool_backward(const Tensor& x, const Tensor& dy, const Tensor& dx,
                            const PoolGeom& g, Device device) {
  const char* op = "maxpool_backward";
  check_activation(op, "x", x, device);
  check_activation(op, "dy", dy, device);
  check_activation(op, "dx", dx, device);
  check_same_shape(op, "x", x, "dx", dx);
  check_pool_geom(op, g);
  const Shape expected = pool_output_shape(x.shape(), g);
  USEG_CHECK(dy.shape() == expected, op << ": dy " << dy.shape().str() << " must be "
                                        << expected.str() << " for x " << x.shape().str()
                                        << " and " << geom_str(g.kernel, g.stride));
}

void check_conv(const char* op, const char* x_name, const Tensor& x, const char* w_name,
                const Tensor& w, const char* bias_name, const Tensor* bias, const char* y_name,
                const Tensor& y, const ConvGeom& g, bool transposed, Device device) {
  check_activation(op, x_name, x, device);
  check_activation(op, w_name, w, device);
  check_activation(op, y_name, y, device);
  for (int a = 0; a < 3; ++a)
    USEG_CHECK(g.kernel[a] >= 1 && g.stride[a] >= 1 && g.pad[a] >= 0,
               op << ": invalid geometry " << geom_str(g.kernel, g.stride) << " pad [" << g.pad[0]
                  << ", " << g.pad[1] << ", " << g.pad[2] << "]");
  const Shape &xs = x.shape(), &ws = w.shape(), &ys = y.shape();
  const int64_t ci = xs.c(), co = ys.c();
  const Shape expected_w = transposed ? Shape{ci, co, g.kernel[0], g.kernel[1], g.kernel[2]}
                                      : Shape{co, ci, g.kernel[0], g.kernel[1], g.kernel[2]};
  USEG_CHECK(ws == expected_w, op << ": " << w_name << " " << ws.str() << " must be "
                                  << expected_w.str() << " for " << x_name << " " << xs.str()
                                  << ", " << y_name << " " << ys.str() << " and kernel ["
                                  << g.kernel[0] << ", " << g.kernel[1] << ", " << g.kernel[2]
                                  << "]" << (transposed ? " ([Ci, Co, k], transposed)" : ""));
  const Shape expected_y =
      transposed ? deconv_output_shape(xs, co, g) : conv_output_shape(xs, co, g);
  USEG_CHECK(ys == expected_y, op << ": " << y_name << " " << ys.str() << " must be "
                                  << expected_y.str() << " for " << x_name << " " << xs.str()
                                  << " (" << (transposed ? "transposed " : "")
                                  << "convolution output shape)");
  if (bias) check_vector(op, bias_name, *bias, co, "output channels", device);
}

}  // namespace useg
