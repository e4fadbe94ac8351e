// Instance norm and batch norm on CUDA, step for step as the CPU backend (cpu.cpp):
// deterministic double row reductions (sum, then squared deviations around the mean), per-row
// statistics, then the per-element apply; backward reduces (dy, dy * xhat) per group.
#include "core/op_checks.h"
#include "cuda/cuda_backend.h"
#include "cuda/host/launch_config.h"
#include "ops/norm/launch.h"
#include "useg/error.h"

namespace useg::gpu {
namespace {


// Group r of an NCDHW tensor: instance norm (n, c), one run of D*H*W; batch norm c, N runs.
RowLayout instance_rows(const Shape& s) { return {s.n() * s.c(), 1, s.spatial(), s.spatial(), 0}; }
RowLayout batch_rows(const Shape& s) {
  return {s.c(), s.n(), s.spatial(), s.spatial(), s.c() * s.spatial()};
}

const float* data_or_null(const Tensor* t) { return t ? t->data() : nullptr; }
float* data_or_null(Tensor* t) { return t ? t->data() : nullptr; }

// Forward statistics of every group into mean_out / invstd_out (float, on the device), updating
// the running statistics when given (batch norm training).
void group_stats(DeviceAllocator& alloc, cudaStream_t s, const float* x, const RowLayout& l,
                 float eps, float momentum, float* mean_out, float* invstd_out,
                 float* running_mean, float* running_var) {
  const int64_t chunks = reduce_chunks(l.row_elements());
  const double count = double(l.row_elements());
  DeviceBuffer partials(alloc, size_t(reduce_partials_size(l, 1)) * sizeof(double));
  DeviceBuffer totals(alloc, size_t(l.rows) * sizeof(double));
  DeviceBuffer mean(alloc, size_t(l.rows) * sizeof(double));
  launch_row_sum(x, l, partials.as<double>(), s);
  launch_row_totals(partials.as<double>(), l.rows, chunks, 1, totals.as<double>(), nullptr, s);
  launch_norm_mean(totals.as<double>(), l.rows, count, mean.as<double>(), s);
  launch_row_sq_dev(x, mean.as<double>(), l, partials.as<double>(), s);
  launch_row_totals(partials.as<double>(), l.rows, chunks, 1, totals.as<double>(), nullptr, s);
  launch_norm_stats(mean.as<double>(), totals.as<double>(), l.rows, count, eps, momentum,
                    mean_out, invstd_out, running_mean, running_var, s);
}

// The backward of both norms (per_sample: instance norm).
void norm_backward(DeviceAllocator& alloc, cudaStream_t s, const Shape& shape, const RowLayout& l,
                   bool per_sample, const Tensor& x, const Tensor& dy, const Tensor* gamma,
                   const Tensor& mean, const Tensor& invstd, Tensor& dx, Tensor* dgamma,
                   Tensor* dbeta) {
  const int64_t chunks = reduce_chunks(l.row_elements());
  const double count = double(l.row_elements());
  DeviceBuffer partials(alloc, size_t(reduce_partials_size(l, 2)) * sizeof(double));
  DeviceBuffer totals(alloc, size_t(l.rows) * 2 * sizeof(double));
  DeviceBuffer means(alloc, size_t(l.rows) * 2 * sizeof(float));
  float* mean_dy = means.as<float>();
  float* mean_dy_xhat = mean_dy + l.rows;
  launch_row_dy_xhat(x.data(), dy.data(), mean.data(), invstd.data(), l, partials.as<double>(), s);
  launch_row_totals(partials.as<double>(), l.rows, chunks, 2, totals.as<double>(), nullptr, s);
  launch_norm_backward_means(totals.as<double>(), l.rows, count, mean_dy, mean_dy_xhat, s);
  launch_norm_backward_apply(x.data(), dy.data(), dx.data(), shape.n(), shape.c(),
                             shape.spatial(), mean.data(), invstd.data(), per_sample,
                             data_or_null(gamma), mean_dy, mean_dy_xhat, s);
  launch_norm_param_grads(totals.as<double>(), shape.c(), l.rows, per_sample,
                          data_or_null(dgamma), data_or_null(dbeta), s);
}

}  // namespace

void instance_norm_forward(BackendImpl& impl, const Tensor& x, const Tensor* gamma,
                           const Tensor* beta, float eps, Tensor& y, Tensor* save_mean,
                           Tensor* save_invstd) {
  CudaBackend& be = cuda(impl);
  const Shape& s = x.shape();
  const int64_t groups = s.n() * s.c();
  // Inference may skip the saved statistics: then they live in scratch memory.
  DeviceBuffer scratch(be.allocator(), size_t(groups) * 2 * sizeof(float));
  float* mean = save_mean ? save_mean->data() : scratch.as<float>();
  float* invstd = save_invstd ? save_invstd->data() : scratch.as<float>() + groups;
  group_stats(be.allocator(), be.stream(), x.data(), instance_rows(s), eps, 0.f, mean, invstd,
              nullptr, nullptr);
  launch_norm_forward_apply(x.data(), y.data(), s.n(), s.c(), s.spatial(), mean, invstd, true,
                            data_or_null(gamma), data_or_null(beta), be.stream());
}

void instance_norm_backward(BackendImpl& impl, const Tensor& x, const Tensor& dy,
                            const Tensor* gamma, const Tensor& save_mean, const Tensor& save_invstd,
                            Tensor& dx, Tensor* dgamma, Tensor* dbeta) {
  CudaBackend& be = cuda(impl);
  norm_backward(be.allocator(), be.stream(), x.shape(), instance_rows(x.shape()), true, x, dy,
                gamma, save_mean, save_invstd, dx, dgamma, dbeta);
}

void batch_norm_forward_training(BackendImpl& impl, const Tensor& x, const Tensor* gamma,
                                 const Tensor* beta, float eps, float momentum,
                                 Tensor& running_mean, Tensor& running_var, Tensor& y,
                                 Tensor& save_mean, Tensor& save_invstd) {
  CudaBackend& be = cuda(impl);
  const Shape& s = x.shape();
  group_stats(be.allocator(), be.stream(), x.data(), batch_rows(s), eps, momentum, save_mean.data(),
              save_invstd.data(), running_mean.data(), running_var.data());
  launch_norm_forward_apply(x.data(), y.data(), s.n(), s.c(), s.spatial(), save_mean.data(),
                            save_invstd.data(), false, data_or_null(gamma), data_or_null(beta),
                            be.stream());
}

void batch_norm_forward_inference(BackendImpl& impl, const Tensor& x, const Tensor* gamma,
                                  const Tensor* beta, const Tensor& running_mean,
                                  const Tensor& running_var, float eps, Tensor& y) {
  CudaBackend& be = cuda(impl);
  const Shape& s = x.shape();
  DeviceBuffer invstd(be.allocator(), size_t(s.c()) * sizeof(float));
  launch_norm_invstd(running_var.data(), s.c(), eps, invstd.as<float>(), be.stream());
  launch_norm_forward_apply(x.data(), y.data(), s.n(), s.c(), s.spatial(), running_mean.data(),
                            invstd.as<float>(), false, data_or_null(gamma), data_or_null(beta),
                            be.stream());
}

void batch_norm_backward(BackendImpl& impl, const Tensor& x, const Tensor& dy, const Tensor* gamma,
                         const Tensor& save_mean, const Tensor& save_invstd, Tensor& dx,
                         Tensor* dgamma, Tensor* dbeta) {
  CudaBackend& be = cuda(impl);
  norm_backward(be.allocator(), be.stream(), x.shape(), batch_rows(x.shape()), false, x, dy, gamma,
                save_mean, save_invstd, dx, dgamma, dbeta);
}

void add_norm_ops(BackendOps& t) {
  t.instance_norm_forward = instance_norm_forward;
  t.instance_norm_backward = instance_norm_backward;
  t.batch_norm_forward_training = batch_norm_forward_training;
  t.batch_norm_forward_inference = batch_norm_forward_inference;
  t.batch_norm_backward = batch_norm_backward;
}

}  // namespace useg::gpu
