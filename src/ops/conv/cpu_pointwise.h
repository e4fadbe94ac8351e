// Pointwise (1x1 / 1x1x1, stride 1, no padding) convolutions of the CPU training path as plain
// matrix products on NCDHW, with oneDNN's sgemm. The per-op training path otherwise reorders x,
// y, dy and dx between NCDHW and oneDNN's 16-channel blocks, and a layer with few channels — a
// segmentation head, 16 -> 2 classes — pads 2 channels to 16 in each blocked copy: on the 3D
// U-Net step (2 x 64^3) that head took 94 ms of ~1050 ms, of which its primitives ran 11 ms.
// Per sample n, with P positions: y_n = W x_n + b; dx_n = W^T dy_n; dW = sum_n dy_n x_n^T;
// db = sum over n and positions of dy (reduce_rows: bit-identical for any thread count).
#pragma once

#include "useg/backend.h"
#include "useg/tensor.h"

namespace useg::cpu {

// True for the convolutions this path runs: kernel 1 and stride 1 on every axis, no padding.
bool is_pointwise_conv(const ConvGeom& g);

void pointwise_conv_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y);

void pointwise_conv_backward(const Tensor& x, const Tensor& dy, const Tensor& w, Tensor* dx,
                             Tensor& dw, Tensor* dbias);

}  // namespace useg::cpu
