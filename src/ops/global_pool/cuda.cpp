// Global average pooling on CUDA (checked by the front): the deterministic row reduction of
// reduce_kernels.cu per (n, c), then the mean; backward broadcasts dy / (D*H*W).
#include "cuda/cuda_backend.h"
#include "cuda/host/launch_config.h"
#include "cuda/launch.h"
#include "ops/global_pool/launch.h"

namespace useg::gpu {

void global_avg_pool_forward(BackendImpl& impl, const Tensor& x, Tensor& y) {
  CudaBackend& be = cuda(impl);
  const int64_t rows = x.shape().n() * x.shape().c(), count = x.shape().spatial();
  if (rows == 0) return;
  const RowLayout l{rows, 1, count, count, count};
  DeviceBuffer partials(be.allocator(), size_t(reduce_partials_size(l, 1)) * sizeof(double));
  DeviceBuffer totals(be.allocator(), size_t(rows) * sizeof(double));
  launch_row_sum(x.data(), l, partials.as<double>(), be.stream());
  launch_row_totals(partials.as<double>(), rows, reduce_chunks(count), 1, totals.as<double>(),
                    nullptr, be.stream());
  launch_global_avg_finish(totals.as<double>(), rows, count, y.data(), be.stream());
}

void global_avg_pool_backward(BackendImpl& impl, const Tensor& dy, Tensor& dx) {
  CudaBackend& be = cuda(impl);
  launch_global_avg_backward(dy.data(), dx.shape().n() * dx.shape().c(), dx.shape().spatial(),
                             dx.data(), be.stream());
}

void add_global_pool_ops(BackendOps& t) {
  t.global_avg_pool_forward = global_avg_pool_forward;
  t.global_avg_pool_backward = global_avg_pool_backward;
}

}  // namespace useg::gpu
