// Elementwise kernels: one grid-stride loop per op over the per-element math of ops/activation.h,
// ops/elementwise.h, ops/dropout.h and ops/optim.h. No arithmetic of their own.
#include "kernel_util.cuh"
#include "ops/activation.h"
#include "ops/dropout.h"
#include "ops/elementwise.h"
#include "ops/optim.h"

namespace useg::gpu {
namespace {

__global__ void fill_kernel(float* y, int64_t n, float value) {
  USEG_GRID_STRIDE_LOOP(i, n) y[i] = value;
}

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

__global__ void add_kernel(const float* a, const float* b, float* y, int64_t n) {
  USEG_GRID_STRIDE_LOOP(i, n) y[i] = ops::add_element(a[i], b[i]);
}

__global__ void mul_kernel(const float* a, const float* b, float* y, int64_t n) {
  USEG_GRID_STRIDE_LOOP(i, n) y[i] = ops::mul_element(a[i], b[i]);
}

__global__ void axpy_kernel(float alpha, const float* x, float* y, int64_t n) {
  USEG_GRID_STRIDE_LOOP(i, n) y[i] = ops::axpy_element(alpha, x[i], y[i]);
}

__global__ void scale_kernel(float* x, float s, int64_t n) {
  USEG_GRID_STRIDE_LOOP(i, n) x[i] = ops::scale_element(x[i], s);
}

__global__ void dropout_kernel(const float* x, float p, float scale, uint64_t seed, float* y,
                               float* mask, int64_t n) {
  USEG_GRID_STRIDE_LOOP(i, n) {
    y[i] = ops::dropout_element(x[i], p, scale, seed, uint64_t(i), &mask[i]);
  }
}

__global__ void sgd_kernel(float* p, const float* g, float* buf, int64_t n, ops::SgdCoefs k) {
  USEG_GRID_STRIDE_LOOP(i, n) ops::sgd_update_element(p + i, g[i], buf ? buf + i : nullptr, k);
}

__global__ void adam_kernel(float* p, const float* g, float* m, float* v, int64_t n,
                            ops::AdamCoefs k) {
  USEG_GRID_STRIDE_LOOP(i, n) ops::adam_update_element(p + i, g[i], m + i, v + i, k);
}

// Any thread seeing a non-finite value sets the flag; the result does not depend on which.
__global__ void find_nonfinite_kernel(const float* x, int64_t n, unsigned* flag) {
  USEG_GRID_STRIDE_LOOP(i, n) {
    if (!ops::is_finite_element(x[i])) atomicOr(flag, 1u);
  }
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

}  // namespace

void launch_fill(float* y, int64_t n, float value, cudaStream_t s) {
  if (n <= 0) return;
  fill_kernel<<<elementwise_blocks(n), kBlockThreads, 0, s>>>(y, n, value);
  USEG_KERNEL_CHECK("fill_kernel");
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

void launch_add(const float* a, const float* b, float* y, int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  add_kernel<<<elementwise_blocks(n), kBlockThreads, 0, s>>>(a, b, y, n);
  USEG_KERNEL_CHECK("add_kernel");
}

void launch_mul(const float* a, const float* b, float* y, int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  mul_kernel<<<elementwise_blocks(n), kBlockThreads, 0, s>>>(a, b, y, n);
  USEG_KERNEL_CHECK("mul_kernel");
}

void launch_axpy(float alpha, const float* x, float* y, int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  axpy_kernel<<<elementwise_blocks(n), kBlockThreads, 0, s>>>(alpha, x, y, n);
  USEG_KERNEL_CHECK("axpy_kernel");
}

void launch_scale(float* x, float factor, int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  scale_kernel<<<elementwise_blocks(n), kBlockThreads, 0, s>>>(x, factor, n);
  USEG_KERNEL_CHECK("scale_kernel");
}

void launch_dropout(const float* x, float p, uint64_t seed, float* y, float* mask, int64_t n,
                    cudaStream_t s) {
  if (n <= 0) return;
  const float scale = ops::dropout_scale(p);
  dropout_kernel<<<elementwise_blocks(n), kBlockThreads, 0, s>>>(x, p, scale, seed, y, mask, n);
  USEG_KERNEL_CHECK("dropout_kernel");
}

void launch_sgd_update(float* param, const float* grad, float* momentum_buf, int64_t n,
                       const ops::SgdCoefs& k, cudaStream_t s) {
  if (n <= 0) return;
  sgd_kernel<<<elementwise_blocks(n), kBlockThreads, 0, s>>>(param, grad, momentum_buf, n, k);
  USEG_KERNEL_CHECK("sgd_kernel");
}

void launch_adam_update(float* param, const float* grad, float* m, float* v, int64_t n,
                        const ops::AdamCoefs& k, cudaStream_t s) {
  if (n <= 0) return;
  adam_kernel<<<elementwise_blocks(n), kBlockThreads, 0, s>>>(param, grad, m, v, n, k);
  USEG_KERNEL_CHECK("adam_kernel");
}

void launch_find_nonfinite(const float* x, int64_t n, unsigned* flag, cudaStream_t s) {
  if (n <= 0) return;
  find_nonfinite_kernel<<<elementwise_blocks(n), kBlockThreads, 0, s>>>(x, n, flag);
  USEG_KERNEL_CHECK("find_nonfinite_kernel");
}

}  // namespace useg::gpu
