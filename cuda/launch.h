// The launch wrappers of every custom CUDA kernel. Each wrapper computes its grid, block and
// shared memory next to its kernel (cuda/*_kernels.cu, from cuda/host/launch_config.h), launches
// on `stream`, checks the launch, and launches nothing for an empty range. The CUDA backend and
// the cudacpu test both call these, so the test runs the launch configurations the backend uses.
// Plain C++: no CUDA header is needed to include this file. Pointers are device pointers.
#pragma once

#include <cstdint>

#include "ops/optim.h"
#include "ops/pool.h"

struct CUstream_st;
typedef struct CUstream_st* cudaStream_t;  // as in CUDA's driver_types.h

namespace useg::gpu {

// ------------------------------------------------------- elementwise_kernels.cu (one per element)
void launch_fill(float* y, int64_t n, float value, cudaStream_t stream);
// kind is an ops::ActKind.
void launch_activation_forward(int kind, float alpha, const float* x, float* y, int64_t n,
                               cudaStream_t stream);
void launch_activation_backward(int kind, float alpha, const float* x, const float* y,
                                const float* dy, float* dx, int64_t n, cudaStream_t stream);
void launch_add(const float* a, const float* b, float* y, int64_t n, cudaStream_t stream);
void launch_mul(const float* a, const float* b, float* y, int64_t n, cudaStream_t stream);
void launch_axpy(float alpha, const float* x, float* y, int64_t n, cudaStream_t stream);
void launch_scale(float* x, float s, int64_t n, cudaStream_t stream);
void launch_dropout(const float* x, float p, uint64_t seed, float* y, float* mask, int64_t n,
                    cudaStream_t stream);
void launch_sgd_update(float* param, const float* grad, float* momentum_buf, int64_t n,
                       const ops::SgdCoefs& k, cudaStream_t stream);
void launch_adam_update(float* param, const float* grad, float* m, float* v, int64_t n,
                        const ops::AdamCoefs& k, cudaStream_t stream);
// *flag (zeroed by the caller) becomes 1 when some element is NaN or infinite.
void launch_find_nonfinite(const float* x, int64_t n, unsigned* flag, cudaStream_t stream);

// ------------------------------------------------------------ layout_kernels.cu (data movement)
// y [N, Ca+Cb, S] = [a [N, Ca, S], b [N, Cb, S]] and its inverse.
void launch_concat_channels(const float* a, const float* b, float* y, int64_t n, int64_t ca,
                            int64_t cb, int64_t spatial, cudaStream_t stream);
void launch_split_channels(const float* y, float* a, float* b, int64_t n, int64_t ca, int64_t cb,
                           int64_t spatial, cudaStream_t stream);
void launch_flip_spatial(const float* x, float* y, int64_t numel, int64_t d, int64_t h,
                         int64_t w, int axes, cudaStream_t stream);
// y [N, C, S] += bias[c] (convolution bias).
void launch_bias_add(float* y, const float* bias, int64_t n, int64_t c, int64_t spatial,
                     cudaStream_t stream);
// Mixed precision: float32 <-> IEEE half / bfloat16 (round to nearest even), n elements.
void launch_float_to_half(const float* x, void* y, int64_t n, cudaStream_t stream);
void launch_half_to_float(const void* x, float* y, int64_t n, cudaStream_t stream);
void launch_float_to_bf16(const float* x, void* y, int64_t n, cudaStream_t stream);
void launch_bf16_to_float(const void* x, float* y, int64_t n, cudaStream_t stream);
// The casts the convolutions use: the same rounding, and NCDHW <-> NDHWC in the same pass. x / y
// are viewed as [n, c, spatial] float32 and [n, spatial, c] half / bfloat16 (an activation
// [N, C, D, H, W] <-> [N, D, H, W, C]; a filter [K, C, kD, kH, kW] <-> [K, kD, kH, kW, C]).
void launch_float_to_half_ndhwc(const float* x, void* y, int64_t n, int64_t c, int64_t spatial,
                                cudaStream_t stream);
void launch_half_ndhwc_to_float(const void* x, float* y, int64_t n, int64_t c, int64_t spatial,
                                cudaStream_t stream);
void launch_float_to_bf16_ndhwc(const float* x, void* y, int64_t n, int64_t c, int64_t spatial,
                                cudaStream_t stream);
void launch_bf16_ndhwc_to_float(const void* x, float* y, int64_t n, int64_t c, int64_t spatial,
                                cudaStream_t stream);

// ------------------------------------------------- voxel_kernels.cu (one thread per voxel)
void launch_softmax_channels(const float* x, float* y, int64_t n, int64_t c, int64_t spatial,
                             cudaStream_t stream);
void launch_argmax_channels(const float* x, float* labels, int64_t n, int64_t c, int64_t spatial,
                            cudaStream_t stream);
// One window of probs added into the volume: window voxels [begin, end) per axis (already
// clipped with ops::window_clip), placed at `offset`.
struct WindowRegion {
  int64_t begin[3], end[3], offset[3];
  int64_t patch[3];   // window D, H, W
  int64_t volume[3];  // accumulator D, H, W
  int channels;
};
void launch_window_accumulate(const float* probs, const float* weight, const WindowRegion& r,
                              float* accum, float* weight_sum, cudaStream_t stream);
void launch_maxpool_forward(const float* x, float* y, int64_t planes, const ops::PoolDims& p,
                            cudaStream_t stream);
void launch_maxpool_backward(const float* x, const float* dy, float* dx, int64_t planes,
                             const ops::PoolDims& p, cudaStream_t stream);

// ------------------------------------------------------------ reduce_kernels.cu (row sums)
// Row r of a reduction is `segments` runs of `len` contiguous floats, run j starting at
// r * row_stride + j * seg_stride (instance norm: rows N*C, one run of D*H*W; batch norm and
// bias gradients: rows C, N runs). Partial sums are double, laid out
// partials[(r * chunks + chunk) * k + j] with chunks = reduce_chunks(segments * len) and k terms.
struct RowLayout {
  int64_t rows, segments, len, row_stride, seg_stride;
  int64_t row_elements() const { return segments * len; }
};
int64_t reduce_partials_size(const RowLayout& l, int k);  // number of doubles
void launch_row_sum(const float* x, const RowLayout& l, double* partials, cudaStream_t stream);
// sum (x - mean[r])^2 (ops::norm_sq_dev)
void launch_row_sq_dev(const float* x, const double* mean, const RowLayout& l, double* partials,
                       cudaStream_t stream);
// k = 2: sum dy, sum dy * xhat with xhat from mean[r], invstd[r]
void launch_row_dy_xhat(const float* x, const float* dy, const float* mean, const float* invstd,
                        const RowLayout& l, double* partials, cudaStream_t stream);
// One row of n elements: sum of ops::square_element.
void launch_sum_squares(const float* x, int64_t n, double* partials, cudaStream_t stream);
// totals[r * k + j] = sum over chunks in order (one thread per row); out_float (optional) gets
// float(totals) for k = 1.
void launch_row_totals(const double* partials, int64_t rows, int64_t chunks, int k,
                       double* totals, float* out_float, cudaStream_t stream);

// ----------------------------------------------------- global_pool_kernels.cu (global pooling)
// y[r] = ops::global_avg_value(totals[r], count); dx[r * count + i] = dy[r] / count.
void launch_global_avg_finish(const double* totals, int64_t rows, int64_t count, float* y,
                              cudaStream_t stream);
void launch_global_avg_backward(const float* dy, int64_t rows, int64_t count, float* dx,
                                cudaStream_t stream);

// ------------------------------------------------------------- norm_kernels.cu (norm steps)
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

// ------------------------------------------------------------------ loss_kernels.cu (losses)
// Largest channel count of a Dice term on CUDA (per-thread accumulators; see cuda/README.md).
constexpr int kMaxDiceClasses = 64;
// *first_bad (set to UINT64_MAX by the caller) becomes the index of the first label that is not
// a class in 0..channels-1.
void launch_find_bad_label(const float* labels, int64_t n, int channels,
                           unsigned long long* first_bad, cudaStream_t stream);
// Per sample (row) and chunk: the CE sum, then (I, P, T) per foreground class when dice:
// k = dice ? 1 + 3 (C - 1) : 1 terms.
void launch_softmax_loss_terms(const float* logits, const float* labels, int64_t n, int c,
                               int64_t spatial, bool dice, double* partials,
                               cudaStream_t stream);
// dice_a/dice_b [groups * C] (null without a Dice term); group = sample, or 0 for batch Dice.
void launch_softmax_loss_grad(const float* logits, const float* labels, int64_t n, int c,
                              int64_t spatial, float ce_coef, const float* dice_a,
                              const float* dice_b, bool batch_dice, float weight, float* dlogits,
                              cudaStream_t stream);
// MSE or hinge against a dense target or the one-hot of a label map: one term per sample.
void launch_elementwise_loss_terms(const float* logits, const float* target, bool dense,
                                   bool mse, int64_t n, int c, int64_t spatial, double* partials,
                                   cudaStream_t stream);
void launch_elementwise_loss_grad(const float* logits, const float* target, bool dense, bool mse,
                                  int64_t n, int c, int64_t spatial, float coef, float* dlogits,
                                  cudaStream_t stream);

}  // namespace useg::gpu
