// Checks of the losses, optimizers, sliding-window ops and flip.
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
  USEG_CHECK(elementwise || spec.kind == LossKind::MultiHinge ||
                 spec.kind == LossKind::CrossEntropy || spec.kind == LossKind::Dice ||
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
  return {elementwise || spec.kind == LossKind::MultiHinge, dense};
}

LossTarget loss_target(const LossSpec& spec, const Tensor& logits, const Tensor& target) {
  const bool elementwise = spec.kind == LossKind::MSE || spec.kind == LossKind::Hinge;
  return {elementwise || spec.kind == LossKind::MultiHinge,
          elementwise && target.shape() == logits.shape()};
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

}  // namespace useg
