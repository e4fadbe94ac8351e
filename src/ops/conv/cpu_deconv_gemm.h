// Transposed convolutions whose stride equals their kernel and that have no padding — the
// up-sampling of every U-Net decoder (2x2(x2), stride 2) — as one matrix product per sample on
// plain NCDHW, with oneDNN's sgemm, plus a shuffle between the product's rows and the output grid.
// Each output voxel then takes exactly one kernel tap:
//   y[o, z*kd + a, y*kh + b, x*kw + c] = bias[o] + sum_i W[i, o, a, b, c] x[i, z, y, x]
// so with K = kd*kh*kw taps and P input positions, Z (Co*K x P) = W^T (Co*K x Ci) X (Ci x P) and
// Z's row (o, tap) scatters to the tap's sub-grid of channel o. Backward gathers dy into that
// shape (G) and runs dx = W G and dW = sum_n X G^T. oneDNN's deconvolution primitive took 22 ms
// for the 3D U-Net's last up-sampling (2 x 32 x 32^3 -> 2 x 16 x 64^3) in a training step.
#pragma once

#include "useg/backend.h"
#include "useg/tensor.h"

namespace useg::cpu {

// True for the transposed convolutions this path runs: stride == kernel, no padding.
bool is_stride_kernel_deconv(const ConvGeom& g);

void deconv_gemm_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                         const ConvGeom& g);
void deconv_gemm_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx, const ConvGeom& g);
void deconv_gemm_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor* dbias,
                                  const ConvGeom& g);

}  // namespace useg::cpu
