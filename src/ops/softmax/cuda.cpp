// Softmax over the channels on CUDA (checked by the front): one thread per voxel.
#include "cuda/cuda_backend.h"
#include "ops/softmax/launch.h"

namespace useg::gpu {

void softmax_channels(BackendImpl& impl, const Tensor& x, Tensor& y) {
  CudaBackend& be = cuda(impl);
  const Shape& s = x.shape();
  launch_softmax_channels(x.data(), y.data(), s.n(), s.c(), s.spatial(), be.stream());
}

void add_softmax_ops(BackendOps& t) {
  t.softmax_channels = softmax_channels;
}

}  // namespace useg::gpu
