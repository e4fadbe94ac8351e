// The launch wrappers of the norm kernels (kernels.cu); the row layouts and plain row sums are
// cuda/launch.h's.
#pragma once

#include "cuda/launch.h"

namespace useg::gpu {

// sum (x - mean[r])^2 (ops::norm_sq_dev)
void launch_row_sq_dev(const float* x, const double* mean, const RowLayout& l, double* partials,
                       cudaStream_t stream);
// k = 2: sum dy, sum dy * xhat with xhat from mean[r], invstd[r]
void launch_row_dy_xhat(const float* x, const float* dy, const float* mean, const float* invstd,
                        const RowLayout& l, double* partials, cudaStream_t stream);
// mean[r] = norm_mean(totals[r], count)
void launch_norm_mean(const double* totals, int64_t rows, double count, double* mean,
                      cudaStream_t stream);
// From mean and the sum of squared deviations: float mean and invstd per row and, when
// running_mean is given (batch norm training), the running statistics update.
void launch_norm_stats(const double* mean, const double* sq_dev, int64_t rows, double count,
                       float eps, float momentum, float* mean_out, float* invstd_out,
                       float* running_mean, float* running_var, cudaStream_t stream);
// invstd[c] = norm_invstd(var[c], eps) (batch norm inference).
void launch_norm_invstd(const float* var, int64_t c, float eps, float* invstd,
                        cudaStream_t stream);
// Statistics are per (n, c) row when per_sample (instance norm), else per channel.
void launch_norm_forward_apply(const float* x, float* y, int64_t n, int64_t c, int64_t spatial,
                               const float* mean, const float* invstd, bool per_sample,
                               const float* gamma, const float* beta, cudaStream_t stream);
// totals2 [groups * 2] = (sum dy, sum dy * xhat); writes mean_dy, mean_dy_xhat per group.
void launch_norm_backward_means(const double* totals2, int64_t groups, double count,
                                float* mean_dy, float* mean_dy_xhat, cudaStream_t stream);
void launch_norm_backward_apply(const float* x, const float* dy, float* dx, int64_t n, int64_t c,
                                int64_t spatial, const float* mean, const float* invstd,
                                bool per_sample, const float* gamma, const float* mean_dy,
                                const float* mean_dy_xhat, cudaStream_t stream);
// dbeta[c] = sum dy, dgamma[c] = sum dy * xhat over the groups of channel c, in n order.
void launch_norm_param_grads(const double* totals2, int64_t c, int64_t groups, bool per_sample,
                             float* dgamma, float* dbeta, cudaStream_t stream);

}  // namespace useg::gpu
