// Activation kernels: one grid-stride loop per activation kind over ops/activation/activation.h.
// No arithmetic of their own.
#include "cuda/kernel_util.cuh"
#include "ops/activation/activation.h"
#include "ops/activation/launch.h"

namespace useg::gpu {
namespace {

// One instantiation per activation kind, so the switch in ops::activation_* folds away.
template <int Kind>
__global__ void activation_forward_kernel(float alpha, const float* x, float* y, int64_t n) {
  USEG_GRID_STRIDE_LOOP(i, n) y[i] = ops::activation_forward(Kind, alpha, x[i]);
}

// `at` is x (ReLU, LeakyReLU) or y (Sigmoid, Tanh): the tensor the derivative is taken at.
template <int Kind>
__global__ void activation_backward_kernel(float alpha, const float* at, const float* dy,
                                           float* dx, int64_t n) {
  USEG_GRID_STRIDE_LOOP(i, n) dx[i] = ops::activation_backward(Kind, alpha, at[i], at[i], dy[i]);
}

template <int Kind>
void activation_forward_as(float alpha, const float* x, float* y, int64_t n, cudaStream_t s) {
  activation_forward_kernel<Kind><<<elementwise_blocks(n), kBlockThreads, 0, s>>>(alpha, x, y, n);
  USEG_KERNEL_CHECK("activation_forward_kernel");
}

template <int Kind>
void activation_backward_as(float alpha, const float* at, const float* dy, float* dx, int64_t n,
                            cudaStream_t s) {
  activation_backward_kernel<Kind><<<elementwise_blocks(n), kBlockThreads, 0, s>>>(alpha, at, dy,
                                                                                   dx, n);
  USEG_KERNEL_CHECK("activation_backward_kernel");
}

// One thread per 32-element word (ops::sign_bits_word).
__global__ void activation_sign_bits_kernel(const float* t, uint32_t* bits, int64_t n,
                                            int64_t words) {
  USEG_GRID_STRIDE_LOOP(w, words) bits[w] = ops::sign_bits_word(t, n, w);
}

__global__ void activation_backward_bits_kernel(int kind, float alpha, const uint32_t* bits,
                                                const float* dy, float* dx, int64_t n) {
  USEG_GRID_STRIDE_LOOP(i, n)
  dx[i] = ops::activation_backward_from_sign(kind, alpha, ops::sign_bit(bits, i), dy[i]);
}

}  // namespace

void launch_activation_sign_bits(const float* t, uint32_t* bits, int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  const int64_t words = ops::sign_bit_words(n);
  activation_sign_bits_kernel<<<elementwise_blocks(words), kBlockThreads, 0, s>>>(t, bits, n,
                                                                                  words);
  USEG_KERNEL_CHECK("activation_sign_bits_kernel");
}

void launch_activation_backward_bits(int kind, float alpha, const uint32_t* bits, const float* dy,
                                     float* dx, int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  activation_backward_bits_kernel<<<elementwise_blocks(n), kBlockThreads, 0, s>>>(kind, alpha,
                                                                                  bits, dy, dx, n);
  USEG_KERNEL_CHECK("activation_backward_bits_kernel");
}

void launch_activation_forward(int kind, float alpha, const float* x, float* y, int64_t n,
                               cudaStream_t s) {
  if (n <= 0) return;
  switch (kind) {
    case ops::kActReLU: return activation_forward_as<ops::kActReLU>(alpha, x, y, n, s);
    case ops::kActLeakyReLU: return activation_forward_as<ops::kActLeakyReLU>(alpha, x, y, n, s);
    case ops::kActSigmoid: return activation_forward_as<ops::kActSigmoid>(alpha, x, y, n, s);
    case ops::kActTanh: return activation_forward_as<ops::kActTanh>(alpha, x, y, n, s);
    default: return activation_forward_as<ops::kActIdentity>(alpha, x, y, n, s);
  }
}

void launch_activation_backward(int kind, float alpha, const float* x, const float* y,
                                const float* dy, float* dx, int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  switch (kind) {
    case ops::kActReLU: return activation_backward_as<ops::kActReLU>(alpha, x, dy, dx, n, s);
    case ops::kActLeakyReLU:
      return activation_backward_as<ops::kActLeakyReLU>(alpha, x, dy, dx, n, s);
    case ops::kActSigmoid: return activation_backward_as<ops::kActSigmoid>(alpha, y, dy, dx, n, s);
    case ops::kActTanh: return activation_backward_as<ops::kActTanh>(alpha, y, dy, dx, n, s);
    default: return activation_backward_as<ops::kActIdentity>(alpha, dy, dy, dx, n, s);
  }
}

}  // namespace useg::gpu
