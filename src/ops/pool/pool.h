// Max and average pooling without padding (backend.h): the window of output voxel (od, oh, ow)
// of one (n, c) plane covers input [od*sd, od*sd + kd) x [oh*sh, oh*sh + kh) x [ow*sw, ow*sw + kw).
// Max: forward takes the window's maximum; backward routes dy to the position of that maximum
// (the first one on ties). The CUDA kernels call these per output / input voxel; the CPU backend
// uses oneDNN's pooling (a NaN-free input gives the same result).
// Average: forward takes the window's sum divided by its volume (every window lies inside the
// input, so there is no padding to count or not); backward gives each input voxel the sum of
// dy / volume over the windows containing it. The CPU loops and the CUDA kernels both call
// these.
#pragma once

#include <cstdint>

#include "ops/hd.h"

namespace useg::ops {

struct PoolDims {
  int64_t in[3];   // input D, H, W
  int64_t out[3];  // output D, H, W
  int kernel[3];
  int stride[3];
};

// Plane index (d * H + h) * W + w of the maximum of one window: the first in (d, h, w) scan
// order; the first NaN wins over numbers (a NaN propagates, as in PyTorch).
USEG_HD int64_t maxpool_argmax(const float* plane, const PoolDims& p, int64_t od, int64_t oh,
                               int64_t ow) {
  const int64_t d0 = od * p.stride[0], h0 = oh * p.stride[1], w0 = ow * p.stride[2];
  int64_t best = (d0 * p.in[1] + h0) * p.in[2] + w0;
  float best_v = plane[best];
  for (int i = 0; i < p.kernel[0]; ++i)
    for (int j = 0; j < p.kernel[1]; ++j)
      for (int k = 0; k < p.kernel[2]; ++k) {
        const int64_t idx = ((d0 + i) * p.in[1] + (h0 + j)) * p.in[2] + (w0 + k);
        const float v = plane[idx];
        if (v > best_v || (v != v && best_v == best_v)) {
          best_v = v;
          best = idx;
        }
      }
  return best;
}

// Along one axis, the outputs whose window contains input coordinate i: [*lo, *hi] (empty when
// *lo > *hi). Output o covers [o*s, o*s + k), so o >= ceil((i - k + 1) / s) and o <= i / s.
USEG_HD void pool_covering_outputs(int64_t i, int k, int s, int64_t out, int64_t* lo,
                                      int64_t* hi) {
  const int64_t a = i - k + 1;
  *lo = a <= 0 ? 0 : (a + s - 1) / s;
  const int64_t h = i / s;
  *hi = h < out - 1 ? h : out - 1;
}

// dx of input voxel (d, h, w) of one plane: the sum, over the windows containing it in (od, oh,
// ow) order, of the dy of those whose maximum is this voxel.
USEG_HD float maxpool_backward_voxel(const float* plane, const float* dy_plane, const PoolDims& p,
                                     int64_t d, int64_t h, int64_t w) {
  int64_t lo[3], hi[3];
  const int64_t at[3] = {d, h, w};
  for (int a = 0; a < 3; ++a)
    pool_covering_outputs(at[a], p.kernel[a], p.stride[a], p.out[a], &lo[a], &hi[a]);
  const int64_t self = (d * p.in[1] + h) * p.in[2] + w;
  float g = 0.f;
  for (int64_t od = lo[0]; od <= hi[0]; ++od)
    for (int64_t oh = lo[1]; oh <= hi[1]; ++oh)
      for (int64_t ow = lo[2]; ow <= hi[2]; ++ow)
        if (maxpool_argmax(plane, p, od, oh, ow) == self)
          g += dy_plane[(od * p.out[1] + oh) * p.out[2] + ow];
  return g;
}

// Average pooling: the mean of the window of output voxel (od, oh, ow), summed in (d, h, w)
// order in float, then divided by the window's volume (as PyTorch's AvgPool does).
USEG_HD float avgpool_window_mean(const float* plane, const PoolDims& p, int64_t od, int64_t oh,
                                  int64_t ow) {
  const int64_t d0 = od * p.stride[0], h0 = oh * p.stride[1], w0 = ow * p.stride[2];
  float sum = 0.f;
  for (int i = 0; i < p.kernel[0]; ++i)
    for (int j = 0; j < p.kernel[1]; ++j) {
      const float* row = plane + ((d0 + i) * p.in[1] + (h0 + j)) * p.in[2] + w0;
      for (int k = 0; k < p.kernel[2]; ++k) sum += row[k];
    }
  return sum / static_cast<float>(p.kernel[0] * p.kernel[1] * p.kernel[2]);
}

// dx of input voxel (d, h, w) of one plane: the sum of dy over the windows containing it, in
// (od, oh, ow) order, divided by the window's volume (0 for a voxel no window reaches).
USEG_HD float avgpool_backward_voxel(const float* dy_plane, const PoolDims& p, int64_t d,
                                     int64_t h, int64_t w) {
  int64_t lo[3], hi[3];
  const int64_t at[3] = {d, h, w};
  for (int a = 0; a < 3; ++a)
    pool_covering_outputs(at[a], p.kernel[a], p.stride[a], p.out[a], &lo[a], &hi[a]);
  float g = 0.f;
  for (int64_t od = lo[0]; od <= hi[0]; ++od)
    for (int64_t oh = lo[1]; oh <= hi[1]; ++oh)
      for (int64_t ow = lo[2]; ow <= hi[2]; ++ow)
        g += dy_plane[(od * p.out[1] + oh) * p.out[2] + ow];
  return g / static_cast<float>(p.kernel[0] * p.kernel[1] * p.kernel[2]);
}

}  // namespace useg::ops
