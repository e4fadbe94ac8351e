// Activations, elementwise arithmetic, channel concat/split, softmax and dropout on the CPU:
// OpenMP loops over ops/activation.h, ops/elementwise.h, ops/softmax.h and ops/dropout.h.
#include "ops/elementwise.h"

#include <algorithm>
#include <cstring>

#include "core/op_checks.h"
#include "cpu/cpu_backend.h"
#include "cpu/parallel.h"
#include "cpu/reduce.h"
#include "ops/activation.h"
#include "ops/dropout.h"
#include "ops/softmax.h"
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
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = ops::activation_forward(Kind, alpha, x[i]);
}

template <int Kind>
void activation_backward_loop(float alpha, const float* x, const float* y, const float* dy,
                              float* dx, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
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

void fill(BackendImpl& be, Tensor& t, float value) {
  float* p = t.data();
  const int64_t n = t.numel();
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) p[i] = value;
}

void copy(BackendImpl& be, const Tensor& src, Tensor& dst) {
  if (src.data() != dst.data()) std::memmove(dst.data(), src.data(), src.bytes());
}

void add(BackendImpl& be, const Tensor& a, const Tensor& b, Tensor& y) {
  const float* ap = a.data();
  const float* bp = b.data();
  float* yp = y.data();
  const int64_t n = a.numel();
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) yp[i] = ops::add_element(ap[i], bp[i]);
}

void axpy(BackendImpl& be, float alpha, const Tensor& x, Tensor& y) {
  const float* xp = x.data();
  float* yp = y.data();
  const int64_t n = x.numel();
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) yp[i] = ops::axpy_element(alpha, xp[i], yp[i]);
}

void scale(BackendImpl& be, Tensor& x, float s) {
  float* p = x.data();
  const int64_t n = x.numel();
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) p[i] = ops::scale_element(p[i], s);
}

void mul(BackendImpl& be, const Tensor& a, const Tensor& b, Tensor& y) {
  const float* ap = a.data();
  const float* bp = b.data();
  float* yp = y.data();
  const int64_t n = a.numel();
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) yp[i] = ops::mul_element(ap[i], bp[i]);
}

double sum_squares(BackendImpl& be, const Tensor& x) {
  const float* p = x.data();
  double out = 0.0;
  reduce_rows(1, 1, x.numel(), 1, &out, [&](int64_t, int64_t, int64_t b, int64_t e, double* acc) {
    double s = 0.0;
    for (int64_t i = b; i < e; ++i) s += ops::square_element(p[i]);
    acc[0] = s;
  });
  return out;
}

bool all_finite(BackendImpl& be, const Tensor& x) {
  const float* p = x.data();
  const int64_t n = x.numel();
  bool ok = true;
#pragma omp parallel for schedule(static) reduction(&& : ok) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) ok = ok && ops::is_finite_element(p[i]);
  return ok;
}

void concat_channels(BackendImpl& be, const Tensor& a, const Tensor& b, Tensor& y) {
  const Shape& sy = y.shape();
  const int64_t ca = a.shape().c(), cb = b.shape().c(), S = sy.spatial();
  const int64_t rows = sy.n() * sy.c();
  const float* ap = a.data();
  const float* bp = b.data();
  float* yp = y.data();
#pragma omp parallel for schedule(static) if (y.numel() >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    int64_t src = 0;
    const int from_b = ops::concat_source_row(r / sy.c(), r % sy.c(), ca, cb, &src);
    std::copy_n((from_b ? bp : ap) + src * S, S, yp + r * S);
  }
}

void split_channels(BackendImpl& be, const Tensor& y, Tensor& a, Tensor& b) {
  const Shape& sy = y.shape();
  const int64_t ca = a.shape().c(), cb = b.shape().c(), S = sy.spatial();
  const int64_t rows = sy.n() * sy.c();
  float* ap = a.data();
  float* bp = b.data();
  const float* yp = y.data();
#pragma omp parallel for schedule(static) if (y.numel() >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    int64_t dst = 0;
    const int to_b = ops::concat_source_row(r / sy.c(), r % sy.c(), ca, cb, &dst);
    std::copy_n(yp + r * S, S, (to_b ? bp : ap) + dst * S);
  }
}

void softmax_channels(BackendImpl& be, const Tensor& x, Tensor& y) {
  const Shape& s = x.shape();
  const int64_t S = s.spatial(), voxels = s.n() * S, C = s.c();
  const float* xp = x.data();
  float* yp = y.data();
  if (C == 0) return;
#pragma omp parallel for schedule(static) if (x.numel() >= kParallelMin)
  for (int64_t v = 0; v < voxels; ++v) {
    const int64_t base = (v / S) * C * S + v % S;
    ops::softmax_voxel(xp + base, yp + base, int(C), S);
  }
}

void dropout_forward(BackendImpl& be, const Tensor& x, float p, uint64_t seed, Tensor& y,
                     Tensor& mask) {
  const float scale = ops::dropout_scale(p);
  const float* xp = x.data();
  float* yp = y.data();
  float* mp = mask.data();
  const int64_t n = x.numel();
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i)
    yp[i] = ops::dropout_element(xp[i], p, scale, seed, uint64_t(i), &mp[i]);
}

void add_elementwise_ops(BackendOps& t) {
  t.activation_forward = activation_forward;
  t.activation_backward = activation_backward;
  t.fill = fill;
  t.copy = copy;
  t.add = add;
  t.axpy = axpy;
  t.scale = scale;
  t.mul = mul;
  t.sum_squares = sum_squares;
  t.all_finite = all_finite;
  t.concat_channels = concat_channels;
  t.split_channels = split_channels;
  t.softmax_channels = softmax_channels;
  t.dropout_forward = dropout_forward;
}

}  // namespace useg::cpu
