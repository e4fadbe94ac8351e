// Instance and batch norm on CUDA: the reduction terms (squared deviations around the mean;
// dy and dy * xhat) as row_reduce_kernel terms, and the per-row and per-element steps around the
// row reductions: statistics from the reduced sums, running-statistics update, forward and
// backward apply, and the parameter gradients. Every formula is a call into ops/norm/norm.h, in
// the CPU backend's order.
#include "cuda/row_reduce.cuh"
#include "ops/norm/launch.h"
#include "ops/norm/norm.h"

namespace useg::gpu {
namespace {

struct SqDevTerm {
  const float* x;
  const double* mean;
  __device__ void operator()(int64_t row, int64_t off, double* acc) const {
    acc[0] += ops::norm_sq_dev(x[off], mean[row]);
  }
};

struct DyXhatTerm {
  const float* x;
  const float* dy;
  const float* mean;
  const float* invstd;
  __device__ void operator()(int64_t row, int64_t off, double* acc) const {
    acc[0] += dy[off];
    acc[1] += double(dy[off]) * double(ops::norm_xhat(x[off], mean[row], invstd[row]));
  }
};

__global__ void norm_mean_kernel(const double* totals, int64_t rows, double count, double* mean) {
  USEG_GRID_STRIDE_LOOP(r, rows) mean[r] = ops::norm_mean(totals[r], count);
}

__global__ void norm_stats_kernel(const double* mean, const double* sq_dev, int64_t rows,
                                  double count, float eps, float momentum, float* mean_out,
                                  float* invstd_out, float* running_mean, float* running_var) {
  USEG_GRID_STRIDE_LOOP(r, rows) {
    mean_out[r] = float(mean[r]);
    invstd_out[r] = ops::norm_invstd(ops::norm_biased_var(sq_dev[r], count), eps);
    if (running_mean) {
      running_mean[r] = ops::norm_running_update(running_mean[r], mean[r], momentum);
      running_var[r] = ops::norm_running_update(
          running_var[r], ops::norm_unbiased_var(sq_dev[r], count), momentum);
    }
  }
}

__global__ void norm_invstd_kernel(const float* var, int64_t c, float eps, float* invstd) {
  USEG_GRID_STRIDE_LOOP(i, c) invstd[i] = ops::norm_invstd(var[i], eps);
}

__global__ void norm_forward_kernel(const float* x, float* y, int64_t total, int64_t c,
                                    int64_t spatial, const float* mean, const float* invstd,
                                    bool per_sample, const float* gamma, const float* beta) {
  USEG_GRID_STRIDE_LOOP(i, total) {
    const int64_t r = i / spatial, ch = r % c, k = per_sample ? r : ch;
    y[i] = ops::norm_forward_apply(x[i], mean[k], invstd[k], gamma ? gamma[ch] : 1.f,
                                   beta ? beta[ch] : 0.f);
  }
}

__global__ void norm_backward_means_kernel(const double* totals2, int64_t groups, double count,
                                           float* mean_dy, float* mean_dy_xhat) {
  USEG_GRID_STRIDE_LOOP(g, groups) {
    mean_dy[g] = float(totals2[2 * g] / count);
    mean_dy_xhat[g] = float(totals2[2 * g + 1] / count);
  }
}

__global__ void norm_backward_kernel(const float* x, const float* dy, float* dx, int64_t total,
                                     int64_t c, int64_t spatial, const float* mean,
                                     const float* invstd, bool per_sample, const float* gamma,
                                     const float* mean_dy, const float* mean_dy_xhat) {
  USEG_GRID_STRIDE_LOOP(i, total) {
    const int64_t r = i / spatial, ch = r % c, k = per_sample ? r : ch;
    dx[i] = ops::norm_backward_apply(x[i], dy[i], mean[k], invstd[k], gamma ? gamma[ch] : 1.f,
                                     mean_dy[k], mean_dy_xhat[k]);
  }
}

// One thread per channel; the groups of channel c are c, c + C, ... (instance norm) or c alone.
__global__ void norm_param_grads_kernel(const double* totals2, int64_t c, int64_t groups,
                                        bool per_sample, float* dgamma, float* dbeta) {
  USEG_GRID_STRIDE_LOOP(ch, c) {
    double sd = 0.0, sdx = 0.0;
    for (int64_t r = ch; r < groups; r += per_sample ? c : groups) {
      sd += totals2[2 * r];
      sdx += totals2[2 * r + 1];
    }
    if (dbeta) dbeta[ch] = float(sd);
    if (dgamma) dgamma[ch] = float(sdx);
  }
}

}  // namespace

void launch_row_sq_dev(const float* x, const double* mean, const RowLayout& l, double* partials,
                       cudaStream_t s) {
  launch_row_reduce<1>("row_sq_dev", l, 1, SqDevTerm{x, mean}, partials, s);
}

void launch_row_dy_xhat(const float* x, const float* dy, const float* mean, const float* invstd,
                        const RowLayout& l, double* partials, cudaStream_t s) {
  launch_row_reduce<2>("row_dy_xhat", l, 2, DyXhatTerm{x, dy, mean, invstd}, partials, s);
}

void launch_norm_mean(const double* totals, int64_t rows, double count, double* mean,
                      cudaStream_t s) {
  if (rows <= 0) return;
  norm_mean_kernel<<<elementwise_blocks(rows), kBlockThreads, 0, s>>>(totals, rows, count, mean);
  USEG_KERNEL_CHECK("norm_mean_kernel");
}

void launch_norm_stats(const double* mean, const double* sq_dev, int64_t rows, double count,
                       float eps, float momentum, float* mean_out, float* invstd_out,
                       float* running_mean, float* running_var, cudaStream_t s) {
  if (rows <= 0) return;
  norm_stats_kernel<<<elementwise_blocks(rows), kBlockThreads, 0, s>>>(
      mean, sq_dev, rows, count, eps, momentum, mean_out, invstd_out, running_mean, running_var);
  USEG_KERNEL_CHECK("norm_stats_kernel");
}

void launch_norm_invstd(const float* var, int64_t c, float eps, float* invstd, cudaStream_t s) {
  if (c <= 0) return;
  norm_invstd_kernel<<<elementwise_blocks(c), kBlockThreads, 0, s>>>(var, c, eps, invstd);
  USEG_KERNEL_CHECK("norm_invstd_kernel");
}

void launch_norm_forward_apply(const float* x, float* y, int64_t n, int64_t c, int64_t spatial,
                               const float* mean, const float* invstd, bool per_sample,
                               const float* gamma, const float* beta, cudaStream_t s) {
  const int64_t total = n * c * spatial;
  if (total <= 0) return;
  norm_forward_kernel<<<elementwise_blocks(total), kBlockThreads, 0, s>>>(
      x, y, total, c, spatial, mean, invstd, per_sample, gamma, beta);
  USEG_KERNEL_CHECK("norm_forward_kernel");
}

void launch_norm_backward_means(const double* totals2, int64_t groups, double count,
                                float* mean_dy, float* mean_dy_xhat, cudaStream_t s) {
  if (groups <= 0) return;
  norm_backward_means_kernel<<<elementwise_blocks(groups), kBlockThreads, 0, s>>>(
      totals2, groups, count, mean_dy, mean_dy_xhat);
  USEG_KERNEL_CHECK("norm_backward_means_kernel");
}

void launch_norm_backward_apply(const float* x, const float* dy, float* dx, int64_t n, int64_t c,
                                int64_t spatial, const float* mean, const float* invstd,
                                bool per_sample, const float* gamma, const float* mean_dy,
                                const float* mean_dy_xhat, cudaStream_t s) {
  const int64_t total = n * c * spatial;
  if (total <= 0) return;
  norm_backward_kernel<<<elementwise_blocks(total), kBlockThreads, 0, s>>>(
      x, dy, dx, total, c, spatial, mean, invstd, per_sample, gamma, mean_dy, mean_dy_xhat);
  USEG_KERNEL_CHECK("norm_backward_kernel");
}

void launch_norm_param_grads(const double* totals2, int64_t c, int64_t groups, bool per_sample,
                             float* dgamma, float* dbeta, cudaStream_t s) {
  if (c <= 0 || (!dgamma && !dbeta)) return;
  norm_param_grads_kernel<<<elementwise_blocks(c), kBlockThreads, 0, s>>>(totals2, c, groups,
                                                                          per_sample, dgamma,
                                                                          dbeta);
  USEG_KERNEL_CHECK("norm_param_grads_kernel");
}

}  // namespace useg::gpu
