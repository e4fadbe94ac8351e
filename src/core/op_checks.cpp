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

}  // namespace useg
