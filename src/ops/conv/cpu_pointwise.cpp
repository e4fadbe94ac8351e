// Pointwise convolutions of the CPU training path (see cpu_pointwise.h).
#include "ops/conv/cpu_pointwise.h"

#include "ops/conv/cpu_gemm.h"
#include "useg/error.h"

namespace useg::cpu {

namespace {

int64_t positions(const Shape& s) { return s[2] * s[3] * s[4]; }

}  // namespace

bool is_pointwise_conv(const ConvGeom& g) {
  for (int a = 0; a < 3; ++a)
    if (g.kernel[a] != 1 || g.stride[a] != 1 || g.pad[a] != 0) return false;
  return true;
}

void pointwise_conv_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) {
  const int64_t n = x.shape()[0], ci = x.shape()[1], co = w.shape()[0], p = positions(x.shape());
  USEG_CHECK(w.shape()[1] == ci && y.shape()[1] == co && positions(y.shape()) == p,
             "pointwise conv: x " << x.shape().str() << ", w " << w.shape().str() << ", y "
                                  << y.shape().str() << " do not fit");
  for (int64_t s = 0; s < n; ++s) {
    float* out = y.data() + s * co * p;
    if (bias) {  // y = b, then y += W x
#pragma omp parallel for schedule(static) if (co * p >= kParallelMin)
      for (int64_t i = 0; i < co * p; ++i) out[i] = bias->data()[i / p];
    }
    sgemm('N', 'N', co, p, ci, w.data(), ci, x.data() + s * ci * p, p, bias ? 1.0f : 0.0f, out, p);
  }
}

void pointwise_conv_backward(const Tensor& x, const Tensor& dy, const Tensor& w, Tensor* dx,
                             Tensor& dw, Tensor* dbias) {
  const int64_t n = x.shape()[0], ci = x.shape()[1], co = w.shape()[0], p = positions(x.shape());
  USEG_CHECK(dy.shape()[1] == co && positions(dy.shape()) == p && dw.shape() == w.shape(),
             "pointwise conv backward: x " << x.shape().str() << ", dy " << dy.shape().str()
                                           << ", w " << w.shape().str() << " do not fit");
  for (int64_t s = 0; s < n; ++s) {
    const float* g = dy.data() + s * co * p;
    // dW (co x ci) += dy_n (co x p) x_n^T (p x ci)
    sgemm('N', 'T', co, ci, p, g, p, x.data() + s * ci * p, p, s ? 1.0f : 0.0f, dw.data(), ci);
    // dx_n (ci x p) = W^T (ci x co) dy_n (co x p)
    if (dx) sgemm('T', 'N', ci, p, co, w.data(), ci, g, p, 0.0f, dx->data() + s * ci * p, p);
  }
  if (dbias) channel_sums(dy.data(), n, co, p, dbias->data());
}

}  // namespace useg::cpu
