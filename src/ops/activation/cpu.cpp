// Activations on the CPU: OpenMP loops over ops/activation/activation.h, one loop per kind.
#include "ops/activation/activation.h"

#include <cstring>

#include "cpu/cpu_backend.h"
#include "cpu/parallel.h"
#include "useg/error.h"

namespace useg::cpu {
namespace {

static_assert(int(Activation::Identity) == ops::kActIdentity &&
                  int(Activation::ReLU) == ops::kActReLU &&
                  int(Activation::LeakyReLU) == ops::kActLeakyReLU &&
                  int(Activation::Sigmoid) == ops::kActSigmoid &&
                  int(Activation::Tanh) == ops::kActTanh,
              "ops::ActKind must number the activations as useg::Activation");

// One loop per activation kind, so the dispatch in ops::activation_* folds away.
template <int Kind>
void activation_forward_loop(float alpha, const float* x, float* y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (parallel : n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = ops::activation_forward(Kind, alpha, x[i]);
}

template <int Kind>
void activation_backward_loop(float alpha, const float* x, const float* y, const float* dy,
                              float* dx, int64_t n) {
#pragma omp parallel for simd schedule(static) if (parallel : n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) dx[i] = ops::activation_backward(Kind, alpha, x[i], y[i], dy[i]);
}

}  // namespace

void activation_forward(BackendImpl& be, Activation a, float alpha, const Tensor& x, Tensor& y) {
  const char* op = "activation_forward";
  const float* xp = x.data();
  float* yp = y.data();
  const int64_t n = x.numel();
  switch (a) {
    case Activation::Identity:
      if (xp != yp) std::memcpy(yp, xp, x.bytes());
      return;
    case Activation::ReLU: return activation_forward_loop<ops::kActReLU>(alpha, xp, yp, n);
    case Activation::LeakyReLU:
      return activation_forward_loop<ops::kActLeakyReLU>(alpha, xp, yp, n);
    case Activation::Sigmoid: return activation_forward_loop<ops::kActSigmoid>(alpha, xp, yp, n);
    case Activation::Tanh: return activation_forward_loop<ops::kActTanh>(alpha, xp, yp, n);
  }
  USEG_THROW(op << ": unknown activation " << int(a));
}

void activation_backward(BackendImpl& be, Activation a, float alpha, const Tensor& x,
                         const Tensor& y, const Tensor& dy, Tensor& dx) {
  const char* op = "activation_backward";
  const float* xp = x.data();
  const float* yp = y.data();
  const float* dyp = dy.data();
  float* dxp = dx.data();
  const int64_t n = dy.numel();
  switch (a) {
    case Activation::Identity:
      if (dxp != dyp) std::memcpy(dxp, dyp, dy.bytes());
      return;
    case Activation::ReLU:
      return activation_backward_loop<ops::kActReLU>(alpha, xp, xp, dyp, dxp, n);
    case Activation::LeakyReLU:
      return activation_backward_loop<ops::kActLeakyReLU>(alpha, xp, xp, dyp, dxp, n);
    case Activation::Sigmoid:
      return activation_backward_loop<ops::kActSigmoid>(alpha, yp, yp, dyp, dxp, n);
    case Activation::Tanh:
      return activation_backward_loop<ops::kActTanh>(alpha, yp, yp, dyp, dxp, n);
  }
  USEG_THROW(op << ": unknown activation " << int(a));
}

void add_activation_ops(BackendOps& t) {
  t.activation_forward = activation_forward;
  t.activation_backward = activation_backward;
}

}  // namespace useg::cpu
