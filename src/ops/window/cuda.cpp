// Sliding-window accumulation, argmax and spatial flip on CUDA (checked by the front): one
// kernel launch each.
#include "cuda/cuda_backend.h"
#include "ops/window/launch.h"
#include "ops/window/window.h"

namespace useg::gpu {

void window_accumulate(BackendImpl& impl, const Tensor& probs, int64_t n, const Tensor& weight,
                       const std::array<int64_t, 3>& offset, Tensor& accum, Tensor& weight_sum) {
  CudaBackend& be = cuda(impl);
  const Shape &ps = probs.shape(), &as = accum.shape();
  WindowRegion r{};
  const int64_t patch[3] = {ps.d(), ps.h(), ps.w()}, size[3] = {as.d(), as.h(), as.w()};
  for (int a = 0; a < 3; ++a) {
    ops::window_clip(offset[a], patch[a], size[a], &r.begin[a], &r.end[a]);
    r.offset[a] = offset[a];
    r.patch[a] = patch[a];
    r.volume[a] = size[a];
  }
  r.channels = int(ps.c());
  if (r.begin[0] >= r.end[0] || r.begin[1] >= r.end[1] || r.begin[2] >= r.end[2]) return;
  launch_window_accumulate(probs.data() + n * ps.c() * ps.spatial(), weight.data(), r,
                           accum.data(), weight_sum.data(), be.stream());
}

void argmax_channels(BackendImpl& impl, const Tensor& x, Tensor& labels) {
  CudaBackend& be = cuda(impl);
  const Shape& s = x.shape();
  launch_argmax_channels(x.data(), labels.data(), s.n(), s.c(), s.spatial(), be.stream());
}

void flip_spatial(BackendImpl& impl, const Tensor& x, int axes, Tensor& y) {
  CudaBackend& be = cuda(impl);
  const Shape& s = x.shape();
  launch_flip_spatial(x.data(), y.data(), x.numel(), s.d(), s.h(), s.w(), axes, be.stream());
}

void add_window_ops(BackendOps& t) {
  t.window_accumulate = window_accumulate;
  t.argmax_channels = argmax_channels;
  t.flip_spatial = flip_spatial;
}

}  // namespace useg::gpu
