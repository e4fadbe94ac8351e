// Max pooling, sliding-window accumulation, argmax and spatial flip on CUDA (checked by the
// front): one kernel launch each (voxel_kernels.cu, layout_kernels.cu). Max pooling is our own
// kernel rather than cuDNN's so that backward routes to the first maximum exactly as backend.h
// specifies, deterministically, and so that cudacpu can execute it (cuda/README.md).
#include "core/op_checks.h"
#include "cuda/cuda_backend.h"
#include "cuda/launch.h"
#include "ops/pool.h"
#include "ops/window.h"

namespace useg::gpu {
namespace {


ops::PoolDims pool_dims(const Shape& x, const Shape& y, const PoolGeom& g) {
  ops::PoolDims p{};
  for (int a = 0; a < 3; ++a) {
    p.in[a] = x[2 + a];
    p.out[a] = y[2 + a];
    p.kernel[a] = g.kernel[a];
    p.stride[a] = g.stride[a];
  }
  return p;
}

}  // namespace

void maxpool_forward(BackendImpl& impl, const Tensor& x, Tensor& y, const PoolGeom& g) {
  CudaBackend& be = cuda(impl);
  const Shape& s = x.shape();
  launch_maxpool_forward(x.data(), y.data(), s.n() * s.c(), pool_dims(s, y.shape(), g),
                         be.stream());
}

void maxpool_backward(BackendImpl& impl, const Tensor& x, const Tensor& dy, Tensor& dx,
                      const PoolGeom& g) {
  CudaBackend& be = cuda(impl);
  const Shape& s = x.shape();
  launch_maxpool_backward(x.data(), dy.data(), dx.data(), s.n() * s.c(),
                          pool_dims(s, dy.shape(), g), be.stream());
}

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

void add_pool_window_ops(BackendOps& t) {
  t.maxpool_forward = maxpool_forward;
  t.maxpool_backward = maxpool_backward;
  t.window_accumulate = window_accumulate;
  t.argmax_channels = argmax_channels;
  t.flip_spatial = flip_spatial;
}

}  // namespace useg::gpu
