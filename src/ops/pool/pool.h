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
// ow) order, of the dy of those whose maximum, argmax(od, oh, ow) (a plane index), is this voxel.
template <class Argmax>
USEG_HD float maxpool_gather(const float* dy_plane, const PoolDims& p, int64_t d, int64_t h,
                             int64_t w, const Argmax& argmax) {
  int64_t lo[3], hi[3];
  const int64_t at[3] = {d, h, w};
  for (int a = 0; a < 3; ++a)
    pool_covering_outputs(at[a], p.kernel[a], p.stride[a], p.out[a], &lo[a], &hi[a]);
  const int64_t self = (d * p.in[1] + h) * p.in[2] + w;
  float g = 0.f;
  for (int64_t od = lo[0]; od <= hi[0]; ++od)
    for (int64_t oh = lo[1]; oh <= hi[1]; ++oh)
      for (int64_t ow = lo[2]; ow <= hi[2]; ++ow)
        if (argmax(od, oh, ow) == self) g += dy_plane[(od * p.out[1] + oh) * p.out[2] + ow];
  return g;
}

// The maxima found in the input plane (maxpool_argmax).
struct ArgmaxOfInput {
  const float* plane;
  const PoolDims& p;
  USEG_HD int64_t operator()(int64_t od, int64_t oh, int64_t ow) const {
    return maxpool_argmax(plane, p, od, oh, ow);
  }
};

USEG_HD float maxpool_backward_voxel(const float* plane, const float* dy_plane, const PoolDims& p,
                                     int64_t d, int64_t h, int64_t w) {
  return maxpool_gather(dy_plane, p, d, h, w, ArgmaxOfInput{plane, p});
}

// Max pooling in training (Backend::maxpool_offsets): per output, the offset of its window's
// maximum, (i * kh + j) * kw + k for window voxel (i, j, k), in one byte, instead of the input
// (1/32 of it for 2 x 2 x 2 windows). Windows of at most Backend::kMaxPoolOffsetWindow voxels.

// Plane index of window voxel `offset` of output (od, oh, ow).
USEG_HD int64_t maxpool_offset_index(const PoolDims& p, int64_t od, int64_t oh, int64_t ow,
                                     int offset) {
  const int k = offset % p.kernel[2], j = (offset / p.kernel[2]) % p.kernel[1];
  const int i = offset / (p.kernel[2] * p.kernel[1]);
  return ((od * p.stride[0] + i) * p.in[1] + (oh * p.stride[1] + j)) * p.in[2] +
         (ow * p.stride[2] + k);
}

// maxpool_argmax as a window offset (the inverse of maxpool_offset_index).
USEG_HD int maxpool_argmax_offset(const float* plane, const PoolDims& p, int64_t od, int64_t oh,
                                  int64_t ow) {
  const int64_t at = maxpool_argmax(plane, p, od, oh, ow);
  const int64_t d = at / (p.in[1] * p.in[2]), h = (at / p.in[2]) % p.in[1], w = at % p.in[2];
  return int(((d - od * p.stride[0]) * p.kernel[1] + (h - oh * p.stride[1])) * p.kernel[2] +
             (w - ow * p.stride[2]));
}

// The maxima as the offsets of one plane say (maxpool_offset_index).
struct ArgmaxOfOffsets {
  const uint8_t* offsets;
  const PoolDims& p;
  USEG_HD int64_t operator()(int64_t od, int64_t oh, int64_t ow) const {
    return maxpool_offset_index(p, od, oh, ow, offsets[(od * p.out[1] + oh) * p.out[2] + ow]);
  }
};

// maxpool_backward_voxel from the offsets of one plane: the same sum in the same order.
USEG_HD float maxpool_backward_voxel_from_offsets(const uint8_t* offsets, const float* dy_plane,
                                                  const PoolDims& p, int64_t d, int64_t h,
                                                  int64_t w) {
  return maxpool_gather(dy_plane, p, d, h, w, ArgmaxOfOffsets{offsets, p});
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
