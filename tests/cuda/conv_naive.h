// Naive double-precision convolutions for the CUDA tests, written from PyTorch's definitions
// (conv3d, conv_transpose3d and their gradients) as scatter/gather loops. Independent of cuDNN and
// of cuda/host/conv_problem.h: test_cuda_host.cpp runs the backend's op -> cuDNN routine mapping
// through an emulation of cuDNN's routines and compares with these.
#pragma once

#include <functional>

#include "ops/ref_util.h"
#include "useg/backend.h"

namespace useg::test::naive {

using ref::Vec;

// conv: x [N,Ci,D,H,W], w [Co,Ci,k], y conv_output_shape.
Vec conv_forward(const Vec& x, const Shape& xs, const Vec& w, const Shape& ws, const Shape& ys,
                 const ConvGeom& g);
Vec conv_backward_data(const Vec& dy, const Shape& ys, const Vec& w, const Shape& ws,
                       const Shape& xs, const ConvGeom& g);
Vec conv_backward_weights(const Vec& x, const Shape& xs, const Vec& dy, const Shape& ys,
                          const Shape& ws, const ConvGeom& g);
// Transposed conv: x [N,Ci,...], w [Ci,Co,k], y deconv_output_shape.
Vec deconv_forward(const Vec& x, const Shape& xs, const Vec& w, const Shape& ws, const Shape& ys,
                   const ConvGeom& g);
Vec deconv_backward_data(const Vec& dy, const Shape& ys, const Vec& w, const Shape& ws,
                         const Shape& xs, const ConvGeom& g);
Vec deconv_backward_weights(const Vec& x, const Shape& xs, const Vec& dy, const Shape& ys,
                            const Shape& ws, const ConvGeom& g);
// bias[c] added to every voxel of channel c / its gradient (sum over n and voxels).
void add_bias(Vec& y, const Shape& ys, const Vec& bias);
Vec bias_gradient(const Vec& dy, const Shape& ys);

// Max pooling without padding: first maximum of each window; backward routes dy there.
Vec maxpool_forward(const Vec& x, const Shape& xs, const PoolGeom& g, const Shape& ys);
Vec maxpool_backward(const Vec& x, const Shape& xs, const Vec& dy, const Shape& ys,
                     const PoolGeom& g);

}  // namespace useg::test::naive
