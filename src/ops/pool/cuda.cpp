// Max and average pooling on CUDA (checked by the front): one kernel launch each. Our own kernels rather
// than cuDNN's so that backward routes to the first maximum exactly as backend.h specifies,
// deterministically, and so that cudacpu can execute them (cuda/README.md).
#include "cuda/cuda_backend.h"
#include "ops/pool/dims.h"
#include "ops/pool/launch.h"

namespace useg::gpu {
using ops::pool_plane_dims;

void maxpool_forward(BackendImpl& impl, const Tensor& x, Tensor& y, const PoolGeom& g) {
  CudaBackend& be = cuda(impl);
  const Shape& s = x.shape();
  launch_maxpool_forward(x.data(), y.data(), s.n() * s.c(), pool_plane_dims(s, y.shape(), g),
                         be.stream());
}

void maxpool_backward(BackendImpl& impl, const Tensor& x, const Tensor& dy, Tensor& dx,
                      const PoolGeom& g) {
  CudaBackend& be = cuda(impl);
  const Shape& s = x.shape();
  launch_maxpool_backward(x.data(), dy.data(), dx.data(), s.n() * s.c(),
                          pool_plane_dims(s, dy.shape(), g), be.stream());
}

void maxpool_offsets(BackendImpl& impl, const Tensor& x, Tensor& offsets, const PoolGeom& g) {
  const Shape& s = x.shape();
  launch_maxpool_offsets(x.data(), reinterpret_cast<uint8_t*>(offsets.data()), s.n() * s.c(),
                         pool_plane_dims(s, pool_output_shape(s, g), g), cuda(impl).stream());
}

void maxpool_backward_offsets(BackendImpl& impl, const Tensor& offsets, const Tensor& dy,
                              Tensor& dx, const PoolGeom& g) {
  const Shape& s = dx.shape();
  launch_maxpool_backward_offsets(reinterpret_cast<const uint8_t*>(offsets.data()), dy.data(),
                                  dx.data(), s.n() * s.c(), pool_plane_dims(s, dy.shape(), g),
                                  cuda(impl).stream());
}

void avgpool_forward(BackendImpl& impl, const Tensor& x, Tensor& y, const PoolGeom& g) {
  CudaBackend& be = cuda(impl);
  const Shape& s = x.shape();
  launch_avgpool_forward(x.data(), y.data(), s.n() * s.c(), pool_plane_dims(s, y.shape(), g),
                         be.stream());
}

void avgpool_backward(BackendImpl& impl, const Tensor& dy, Tensor& dx, const PoolGeom& g) {
  CudaBackend& be = cuda(impl);
  const Shape& s = dx.shape();
  launch_avgpool_backward(dy.data(), dx.data(), s.n() * s.c(), pool_plane_dims(s, dy.shape(), g),
                          be.stream());
}

void add_pool_ops(BackendOps& t) {
  t.maxpool_forward = maxpool_forward;
  t.maxpool_backward = maxpool_backward;
  t.maxpool_offsets = maxpool_offsets;
  t.maxpool_backward_offsets = maxpool_backward_offsets;
  t.avgpool_forward = avgpool_forward;
  t.avgpool_backward = avgpool_backward;
}

}  // namespace useg::gpu
