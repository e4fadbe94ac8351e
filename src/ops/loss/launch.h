// The launch wrappers of the loss kernels (kernels.cu); see cuda/launch.h.
#pragma once

#include "cuda/launch.h"

namespace useg::gpu {

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
// MSE or hinge against a dense target or the one-hot of a label map, or the multi-class hinge
// of a label map: one term per sample.
enum class ElementwiseLoss { MSE, Hinge, MultiHinge };
void launch_elementwise_loss_terms(const float* logits, const float* target, bool dense,
                                   ElementwiseLoss kind, int64_t n, int c, int64_t spatial,
                                   double* partials, cudaStream_t stream);
void launch_elementwise_loss_grad(const float* logits, const float* target, bool dense,
                                  ElementwiseLoss kind, int64_t n, int c, int64_t spatial,
                                  float coef, float* dlogits, cudaStream_t stream);

}  // namespace useg::gpu
