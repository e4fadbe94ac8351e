// Naive references for convolution and transposed convolution, written from the definitions
// (in double, no blocking, no tricks) and independent of the convolutions under test. Weights follow the API's orders:
// convolution [Co, Ci, kD, kH, kW], transposed convolution [Ci, Co, kD, kH, kW].
#pragma once

#include "ops/ref_util.h"
#include "useg/backend.h"

namespace useg::ref {

// y[n,co,o] = bias[co] + sum_{ci,k} x[n,ci,o*stride - pad + k] * w[co,ci,k] (taps outside x are 0).
Array conv_forward(const Array& x, const Array& w, const Array* bias, const ConvGeom& g);
// The adjoint in x: every tap sends dy[n,co,o] * w[co,ci,k] back to the input position it read.
Array conv_backward_data(const Array& dy, const Array& w, const Shape& x_shape, const ConvGeom& g);
// dw[co,ci,k] = sum_{n,o} dy[n,co,o] * x[n,ci,o*stride - pad + k].
Array conv_backward_weights(const Array& x, const Array& dy, const Shape& w_shape,
                            const ConvGeom& g);

// Transposed convolution as a scatter: each input x[n,ci,i] adds x * w[ci,co,k] to
// y[n,co,i*stride - pad + k] (positions outside y are dropped), plus bias[co].
Array deconv_forward(const Array& x, const Array& w, const Array* bias, const ConvGeom& g);
// dx[n,ci,i] = sum_{co,k} dy[n,co,i*stride - pad + k] * w[ci,co,k].
Array deconv_backward_data(const Array& dy, const Array& w, const Shape& x_shape,
                           const ConvGeom& g);
// dw[ci,co,k] = sum_{n,i} x[n,ci,i] * dy[n,co,i*stride - pad + k].
Array deconv_backward_weights(const Array& x, const Array& dy, const Shape& w_shape,
                              const ConvGeom& g);

// The bias gradient of either: dbias[c] = sum over n and space of dy[n,c,...]; shape [C].
Array bias_grad(const Array& dy);

}  // namespace useg::ref
