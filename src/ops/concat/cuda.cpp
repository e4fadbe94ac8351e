// Channel concatenation and split on CUDA (checked by the front): one kernel launch each.
#include "cuda/cuda_backend.h"
#include "ops/concat/launch.h"

namespace useg::gpu {

void concat_channels(BackendImpl& impl, const Tensor& a, const Tensor& b, Tensor& y) {
  CudaBackend& be = cuda(impl);
  const Shape& sy = y.shape();
  launch_concat_channels(a.data(), b.data(), y.data(), sy.n(), a.shape().c(), b.shape().c(),
                         sy.spatial(), be.stream());
}

void split_channels(BackendImpl& impl, const Tensor& y, Tensor& a, Tensor& b) {
  CudaBackend& be = cuda(impl);
  const Shape& sy = y.shape();
  launch_split_channels(y.data(), a.data(), b.data(), sy.n(), a.shape().c(), b.shape().c(),
                        sy.spatial(), be.stream());
}

void add_concat_ops(BackendOps& t) {
  t.concat_channels = concat_channels;
  t.split_channels = split_channels;
}

}  // namespace useg::gpu
