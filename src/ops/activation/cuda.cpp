// Activations on CUDA (the front has checked the arguments): one kernel launch each.
#include "cuda/cuda_backend.h"
#include "ops/activation/activation.h"
#include "ops/activation/launch.h"
#include "useg/error.h"

namespace useg::gpu {

void activation_forward(BackendImpl& impl, Activation a, float alpha, const Tensor& x, Tensor& y) {
  CudaBackend& be = cuda(impl);
  USEG_CHECK(int(a) >= ops::kActIdentity && int(a) <= ops::kActTanh,
             "activation_forward: unknown activation " << int(a));
  launch_activation_forward(int(a), alpha, x.data(), y.data(), x.numel(), be.stream());
}

void activation_backward(BackendImpl& impl, Activation a, float alpha, const Tensor& x,
                         const Tensor& y, const Tensor& dy, Tensor& dx) {
  CudaBackend& be = cuda(impl);
  USEG_CHECK(int(a) >= ops::kActIdentity && int(a) <= ops::kActTanh,
             "activation_backward: unknown activation " << int(a));
  launch_activation_backward(int(a), alpha, x.data(), y.data(), dy.data(), dx.data(), dy.numel(),
                             be.stream());
}

void activation_sign_bits(BackendImpl& impl, const Tensor& t, Tensor& bits) {
  launch_activation_sign_bits(t.data(), reinterpret_cast<uint32_t*>(bits.data()), t.numel(),
                              cuda(impl).stream());
}

void activation_backward_bits(BackendImpl& impl, Activation a, float alpha, const Tensor& bits,
                              const Tensor& dy, Tensor& dx) {
  launch_activation_backward_bits(int(a), alpha, reinterpret_cast<const uint32_t*>(bits.data()),
                                  dy.data(), dx.data(), dy.numel(), cuda(impl).stream());
}

void add_activation_ops(BackendOps& t) {
  t.activation_forward = activation_forward;
  t.activation_backward = activation_backward;
  t.activation_sign_bits = activation_sign_bits;
  t.activation_backward_bits = activation_backward_bits;
}

}  // namespace useg::gpu
