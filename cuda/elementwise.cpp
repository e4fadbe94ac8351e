// Activations, elementwise arithmetic, concat/split, softmax and dropout on CUDA: the shared
// argument checks, then one kernel launch (cuda/launch.h). sum_squares and all_finite return a
// host value, so they wait for their result.
#include <cuda_runtime_api.h>

#include <vector>

#include "core/op_checks.h"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_check.h"
#include "cuda/host/launch_config.h"
#include "cuda/launch.h"
#include "ops/activation.h"
#include "useg/error.h"

namespace useg::gpu {
namespace {
constexpr Device kCuda = Device::CUDA;
}  // namespace

void CudaBackend::activation_forward(Activation a, float alpha, const Tensor& x, Tensor& y) {
  check_activation_forward(x, y, kCuda);
  USEG_CHECK(int(a) >= ops::kActIdentity && int(a) <= ops::kActTanh,
             "activation_forward: unknown activation " << int(a));
  launch_activation_forward(int(a), alpha, x.data(), y.data(), x.numel(), stream());
}

void CudaBackend::activation_backward(Activation a, float alpha, const Tensor& x, const Tensor& y,
                                      const Tensor& dy, Tensor& dx) {
  check_activation_backward(a, x, y, dy, dx, kCuda);
  USEG_CHECK(int(a) >= ops::kActIdentity && int(a) <= ops::kActTanh,
             "activation_backward: unknown activation " << int(a));
  launch_activation_backward(int(a), alpha, x.data(), y.data(), dy.data(), dx.data(), dy.numel(),
                             stream());
}

void CudaBackend::fill(Tensor& t, float value) {
  check_tensor("fill", "t", t, kCuda);
  launch_fill(t.data(), t.numel(), value, stream());
}

void CudaBackend::copy(const Tensor& src, Tensor& dst) {
  check_tensor("copy", "src", src, kCuda);
  check_tensor("copy", "dst", dst, kCuda);
  check_same_shape("copy", "src", src, "dst", dst);
  if (src.data() != dst.data() && src.numel() > 0)
    USEG_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), src.bytes(),
                                    cudaMemcpyDeviceToDevice, stream()));
}

void CudaBackend::add(const Tensor& a, const Tensor& b, Tensor& y) {
  check_binary("add", a, b, y, kCuda);
  launch_add(a.data(), b.data(), y.data(), a.numel(), stream());
}

void CudaBackend::axpy(float alpha, const Tensor& x, Tensor& y) {
  check_tensor("axpy", "x", x, kCuda);
  check_tensor("axpy", "y", y, kCuda);
  check_same_shape("axpy", "x", x, "y", y);
  launch_axpy(alpha, x.data(), y.data(), x.numel(), stream());
}

void CudaBackend::scale(Tensor& x, float s) {
  check_tensor("scale", "x", x, kCuda);
  launch_scale(x.data(), s, x.numel(), stream());
}

void CudaBackend::mul(const Tensor& a, const Tensor& b, Tensor& y) {
  check_binary("mul", a, b, y, kCuda);
  launch_mul(a.data(), b.data(), y.data(), a.numel(), stream());
}

double CudaBackend::sum_squares(const Tensor& x) {
  check_tensor("sum_squares", "x", x, kCuda);
  const int64_t n = x.numel();
  if (n == 0) return 0.0;
  const int64_t chunks = reduce_chunks(n);
  DeviceBuffer partials(allocator(), size_t(chunks) * sizeof(double));
  launch_sum_squares(x.data(), n, partials.as<double>(), stream());
  // The chunk sums, added on the host in chunk order.
  std::vector<double> host(static_cast<size_t>(chunks));
  download(host.data(), partials.as<double>(), partials.bytes());
  double total = 0.0;
  for (double v : host) total += v;
  return total;
}

bool CudaBackend::all_finite(const Tensor& x) {
  check_tensor("all_finite", "x", x, kCuda);
  if (x.numel() == 0) return true;
  DeviceBuffer flag(allocator(), sizeof(unsigned));
  USEG_CUDA_CHECK(cudaMemsetAsync(flag.as<void>(), 0, sizeof(unsigned), stream()));
  launch_find_nonfinite(x.data(), x.numel(), flag.as<unsigned>(), stream());
  unsigned host = 0;
  download(&host, flag.as<unsigned>(), sizeof(unsigned));
  return host == 0;
}

void CudaBackend::concat_channels(const Tensor& a, const Tensor& b, Tensor& y) {
  check_concat("concat_channels", a, b, y, kCuda);
  const Shape& sy = y.shape();
  launch_concat_channels(a.data(), b.data(), y.data(), sy.n(), a.shape().c(), b.shape().c(),
                         sy.spatial(), stream());
}

void CudaBackend::split_channels(const Tensor& y, Tensor& a, Tensor& b) {
  check_concat("split_channels", a, b, y, kCuda);
  const Shape& sy = y.shape();
  launch_split_channels(y.data(), a.data(), b.data(), sy.n(), a.shape().c(), b.shape().c(),
                        sy.spatial(), stream());
}

void CudaBackend::softmax_channels(const Tensor& x, Tensor& y) {
  check_softmax(x, y, kCuda);
  const Shape& s = x.shape();
  launch_softmax_channels(x.data(), y.data(), s.n(), s.c(), s.spatial(), stream());
}

void CudaBackend::dropout_forward(const Tensor& x, float p, uint64_t seed, Tensor& y,
                                  Tensor& mask) {
  check_dropout(x, p, y, mask, kCuda);
  launch_dropout(x.data(), p, seed, y.data(), mask.data(), x.numel(), stream());
}

}  // namespace useg::gpu
