// Elementwise arithmetic on CUDA (the front has checked the arguments): one kernel launch each;
// sum_squares and all_finite return a host value, so they wait for their result.
#include <cuda_runtime_api.h>

#include <vector>

#include "cuda/cuda_backend.h"
#include "cuda/cuda_check.h"
#include "cuda/host/launch_config.h"
#include "ops/elementwise/launch.h"

namespace useg::gpu {

void fill(BackendImpl& impl, Tensor& t, float value) {
  CudaBackend& be = cuda(impl);
  launch_fill(t.data(), t.numel(), value, be.stream());
}

void copy(BackendImpl& impl, const Tensor& src, Tensor& dst) {
  CudaBackend& be = cuda(impl);
  if (src.data() != dst.data() && src.numel() > 0)
    USEG_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), src.bytes(),
                                    cudaMemcpyDeviceToDevice, be.stream()));
}

void add(BackendImpl& impl, const Tensor& a, const Tensor& b, Tensor& y) {
  CudaBackend& be = cuda(impl);
  launch_add(a.data(), b.data(), y.data(), a.numel(), be.stream());
}

void axpy(BackendImpl& impl, float alpha, const Tensor& x, Tensor& y) {
  CudaBackend& be = cuda(impl);
  launch_axpy(alpha, x.data(), y.data(), x.numel(), be.stream());
}

void scale(BackendImpl& impl, Tensor& x, float s) {
  CudaBackend& be = cuda(impl);
  launch_scale(x.data(), s, x.numel(), be.stream());
}

void mul(BackendImpl& impl, const Tensor& a, const Tensor& b, Tensor& y) {
  CudaBackend& be = cuda(impl);
  launch_mul(a.data(), b.data(), y.data(), a.numel(), be.stream());
}

double sum_squares(BackendImpl& impl, const Tensor& x) {
  CudaBackend& be = cuda(impl);
  const int64_t n = x.numel();
  if (n == 0) return 0.0;
  const int64_t chunks = reduce_chunks(n);
  DeviceBuffer partials(be.allocator(), size_t(chunks) * sizeof(double));
  launch_sum_squares(x.data(), n, partials.as<double>(), be.stream());
  // The chunk sums, added on the host in chunk order.
  std::vector<double> host(static_cast<size_t>(chunks));
  be.download(host.data(), partials.as<double>(), partials.bytes());
  double total = 0.0;
  for (double v : host) total += v;
  return total;
}

bool all_finite(BackendImpl& impl, const Tensor& x) {
  CudaBackend& be = cuda(impl);
  if (x.numel() == 0) return true;
  DeviceBuffer flag(be.allocator(), sizeof(unsigned));
  USEG_CUDA_CHECK(cudaMemsetAsync(flag.as<void>(), 0, sizeof(unsigned), be.stream()));
  launch_find_nonfinite(x.data(), x.numel(), flag.as<unsigned>(), be.stream());
  unsigned host = 0;
  be.download(&host, flag.as<unsigned>(), sizeof(unsigned));
  return host == 0;
}

void add_elementwise_ops(BackendOps& t) {
  t.fill = fill;
  t.copy = copy;
  t.add = add;
  t.axpy = axpy;
  t.scale = scale;
  t.mul = mul;
  t.sum_squares = sum_squares;
  t.all_finite = all_finite;
}

}  // namespace useg::gpu
