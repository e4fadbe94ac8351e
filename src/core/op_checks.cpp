// Building blocks of the op checks, and the checks of the elementwise and normalization ops.
#include "core/op_checks.h"

#include "useg/error.h"

namespace useg {

void check_tensor(const char* op, const char* name, const Tensor& t, Device device) {
  USEG_CHECK(t.defined(), op << ": " << name << " is an undefined tensor");
  USEG_CHECK(t.device() == device, op << ": " << name << " " << t.shape().str() << " is on "
                                      << device_name(t.device()) << ", expected "
                                      << device_name(device));
}

void check_activation(const char* op, const char* name, const Tensor& t, Device device) {
  check_tensor(op, name, t, device);
  USEG_CHECK(t.shape().rank() == 5,
             op << ": " << name << " " << t.shape().str() << " must be rank 5 (N, C, D, H, W)");
}

void check_same_shape(const char* op, const char* a_name, const Tensor& a, const char* b_name,
                      const Tensor& b) {
  USEG_CHECK(a.shape() == b.shape(), op << ": " << b_name << " " << b.shape().str()
                                        << " does not match " << a_name << " " << a.shape().str());
}

void check_channel_param(const char* op, const char* name, const Tensor& p, const Tensor& x,
                         Device device) {
  check_tensor(op, name, p, device);
  const int64_t c = x.shape().c();
  USEG_CHECK(p.shape().rank() == 1 && p.shape()[0] == c,
             op << ": " << name << " " << p.shape().str() << " does not match " << c
                << " channels of x " << x.shape().str());
}

void check_vector(const char* op, const char* name, const Tensor& p, int64_t count,
                  const char* what, Device device) {
  check_tensor(op, name, p, device);
  USEG_CHECK(p.shape().rank() == 1 && p.shape()[0] == count, op << ": " << name << " "
                                                                << p.shape().str() << " must be ["
                                                                << count << "] (" << what << ")");
}

void check_not_empty(const char* op, const char* name, const Tensor& t) {
  USEG_CHECK(t.numel() > 0, op << ": " << name << " " << t.shape().str() << " has no elements");
}

// ------------------------------------------------------------------------- elementwise ops

void check_binary(const char* op, const Tensor& a, const Tensor& b, const Tensor& y,
                  Device device) {
  check_tensor(op, "a", a, device);
  check_tensor(op, "b", b, device);
  check_tensor(op, "y", y, device);
  check_same_shape(op, "a", a, "b", b);
  check_same_shape(op, "a", a, "y", y);
}

void check_concat(const char* op, const Tensor& a, const Tensor& b, const Tensor& y,
                  Device device) {
  check_activation(op, "a", a, device);
  check_activation(op, "b", b, device);
  check_activation(op, "y", y, device);
  const Shape &sa = a.shape(), &sb = b.shape(), &sy = y.shape();
  const bool ok = sa.n() == sy.n() && sb.n() == sy.n() && sa.d() == sy.d() && sb.d() == sy.d() &&
                  sa.h() == sy.h() && sb.h() == sy.h() && sa.w() == sy.w() && sb.w() == sy.w() &&
                  sa.c() + sb.c() == sy.c();
  USEG_CHECK(ok, op << ": y " << sy.str() << " is not the channel concatenation of a " << sa.str()
                    << " and b " << sb.str());
}

void check_activation_forward(const Tensor& x, const Tensor& y, Device device) {
  const char* op = "activation_forward";
  check_tensor(op, "x", x, device);
  check_tensor(op, "y", y, device);
  check_same_shape(op, "x", x, "y", y);
}

void check_activation_backward(Activation a, const Tensor& x, const Tensor& y, const Tensor& dy,
                               const Tensor& dx, Device device) {
  const char* op = "activation_backward";
  check_tensor(op, "dy", dy, device);
  check_tensor(op, "dx", dx, device);
  check_same_shape(op, "dy", dy, "dx", dx);
  const bool uses_x = a == Activation::ReLU || a == Activation::LeakyReLU;
  const bool uses_y = a == Activation::Sigmoid || a == Activation::Tanh;
  if (uses_x) {
    check_tensor(op, "x", x, device);
    check_same_shape(op, "dy", dy, "x", x);
  }
  if (uses_y) {
    check_tensor(op, "y", y, device);
    check_same_shape(op, "dy", dy, "y", y);
  }
}

// The word count of a sign-bits tensor for `numel` elements (Backend::sign_bits_shape).
static void check_sign_bits(const char* op, const Tensor& bits, const Tensor& t, const char* what,
                            Device device) {
  check_tensor(op, "bits", bits, device);
  const Shape want = Backend::sign_bits_shape(t.numel());
  USEG_CHECK(bits.shape() == want, op << ": bits " << bits.shape().str() << " is not "
                                      << want.str() << " (32 elements a word of " << what << " "
                                      << t.shape().str() << ")");
}

void check_activation_sign_bits(const Tensor& t, const Tensor& bits, Device device) {
  const char* op = "activation_sign_bits";
  check_tensor(op, "t", t, device);
  check_sign_bits(op, bits, t, "t", device);
}

void check_activation_backward_bits(Activation a, const Tensor& bits, const Tensor& dy,
                                    const Tensor& dx, Device device) {
  const char* op = "activation_backward_bits";
  USEG_CHECK(a == Activation::ReLU || a == Activation::LeakyReLU,
             op << ": " << activation_name(a)
                << " is not differentiated from signs (only relu and leaky_relu are)");
  check_tensor(op, "dy", dy, device);
  check_tensor(op, "dx", dx, device);
  check_same_shape(op, "dy", dy, "dx", dx);
  check_sign_bits(op, bits, dy, "dy", device);
}

void check_softmax(const Tensor& x, const Tensor& y, Device device) {
  const char* op = "softmax_channels";
  check_activation(op, "x", x, device);
  check_activation(op, "y", y, device);
  check_same_shape(op, "x", x, "y", y);
}

void check_dropout(const Tensor& x, float p, const Tensor& y, const Tensor& mask, Device device) {
  const char* op = "dropout_forward";
  check_tensor(op, "x", x, device);
  check_tensor(op, "y", y, device);
  check_tensor(op, "mask", mask, device);
  check_same_shape(op, "x", x, "y", y);
  check_same_shape(op, "x", x, "mask", mask);
  USEG_CHECK(p >= 0.f && p <= 1.f, op << ": drop probability p = " << p << " must be in [0, 1]");
}

// --------------------------------------------------------------------------- normalization

void check_norm_forward(const char* op, const Tensor& x, const Tensor* gamma, const Tensor* beta,
                        float eps, const Tensor& y, Device device) {
  check_activation(op, "x", x, device);
  check_not_empty(op, "x", x);
  check_activation(op, "y", y, device);
  check_same_shape(op, "x", x, "y", y);
  if (gamma) check_channel_param(op, "gamma", *gamma, x, device);
  if (beta) check_channel_param(op, "beta", *beta, x, device);
  USEG_CHECK(eps >= 0.f, op << ": eps " << eps << " must be >= 0");
}

void check_norm_backward(const char* op, const Tensor& x, const Tensor& dy, const Tensor* gamma,
                         const Tensor& save_mean, const Tensor& save_invstd, int64_t groups,
                         const char* groups_what, const Tensor& dx, const Tensor* dgamma,
                         const Tensor* dbeta, Device device) {
  check_activation(op, "x", x, device);
  check_not_empty(op, "x", x);
  check_activation(op, "dy", dy, device);
  check_same_shape(op, "x", x, "dy", dy);
  check_activation(op, "dx", dx, device);
  check_same_shape(op, "x", x, "dx", dx);
  if (gamma) check_channel_param(op, "gamma", *gamma, x, device);
  if (dgamma) check_channel_param(op, "dgamma", *dgamma, x, device);
  if (dbeta) check_channel_param(op, "dbeta", *dbeta, x, device);
  check_vector(op, "save_mean", save_mean, groups, groups_what, device);
  check_vector(op, "save_invstd", save_invstd, groups, groups_what, device);
}

void check_batch_norm_training(const char* op, const Tensor& x, float momentum,
                               const Tensor& running_mean, const Tensor& running_var,
                               const Tensor& save_mean, const Tensor& save_invstd, Device device) {
  check_channel_param(op, "running_mean", running_mean, x, device);
  check_channel_param(op, "running_var", running_var, x, device);
  check_channel_param(op, "save_mean", save_mean, x, device);
  check_channel_param(op, "save_invstd", save_invstd, x, device);
  USEG_CHECK(momentum >= 0.f && momentum <= 1.f,
             op << ": momentum " << momentum << " must be in [0, 1]");
  const Shape& s = x.shape();
  USEG_CHECK(double(s.n()) * double(s.spatial()) > 1,
             op << ": expected more than 1 value per channel when training, got x " << s.str()
                << " (as PyTorch, the unbiased variance needs two)");
}

}  // namespace useg
