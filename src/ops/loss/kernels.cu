// Loss kernels: label validation, per-sample reductions of the per-voxel terms of ops/loss/loss.h
// (row_reduce_kernel with one row per sample), and the per-voxel gradient given the reduced
// coefficients. The host (cuda.cpp) turns the sums into the loss value and the Dice
// coefficients exactly as the CPU backend does.
#include <climits>

#include "cuda/row_reduce.cuh"
#include "ops/loss/launch.h"
#include "ops/loss/loss.h"

namespace useg::gpu {
namespace {

// The smallest index of an invalid label wins: atomicMin is order-independent.
__global__ void find_bad_label_kernel(const float* labels, int64_t n, int channels,
                                      unsigned long long* first_bad) {
  USEG_GRID_STRIDE_LOOP(i, n) {
    if (ops::label_class(labels[i], channels) < 0) atomicMin(first_bad, (unsigned long long)i);
  }
}

// Row n, offset n * S + v: the CE term of voxel v and, with Dice, its (p o, p, o) per class.
struct SoftmaxLossTerm {
  const float* logits;
  const float* labels;
  int c;
  int64_t spatial;
  bool dice;
  __device__ void operator()(int64_t n, int64_t off, double* acc) const {
    const float* x = logits + n * c * spatial + (off - n * spatial);
    const int t = ops::label_class(labels[off], c);
    acc[0] += ops::softmax_loss_voxel_terms(x, c, spatial, t, dice ? acc + 1 : nullptr);
  }
};

struct ElementwiseLossTerm {
  const float* logits;
  const float* target;
  bool dense;
  ElementwiseLoss kind;
  int c;
  int64_t spatial;
  __device__ void operator()(int64_t n, int64_t off, double* acc) const {
    const int64_t v = off - n * spatial;
    const int t = dense ? -1 : ops::label_class(target[off], c);
    if (kind == ElementwiseLoss::MultiHinge) {
      acc[0] += ops::multi_hinge_voxel_term(logits + n * c * spatial + v, c, spatial, t);
      return;
    }
    const bool mse = kind == ElementwiseLoss::MSE;
    double sum = 0.0;
    for (int ch = 0; ch < c; ++ch) {
      const int64_t e = (n * c + ch) * spatial + v;
      const float o = dense ? target[e] : ops::onehot(t, ch);
      sum += mse ? ops::mse_term(logits[e], o) : ops::hinge_term(logits[e], o);
    }
    acc[0] += sum;
  }
};

__global__ void softmax_loss_grad_kernel(const float* logits, const float* labels, int64_t voxels,
                                         int c, int64_t spatial, float ce_coef,
                                         const float* dice_a, const float* dice_b,
                                         bool batch_dice, float weight, float* dlogits) {
  USEG_GRID_STRIDE_LOOP(v, voxels) {
    const int64_t n = v / spatial, base = n * c * spatial + v % spatial;
    const int64_t g = batch_dice ? 0 : n;
    ops::softmax_loss_grad_voxel(logits + base, c, spatial, ops::label_class(labels[v], c),
                                 ce_coef, dice_a ? dice_a + g * c : nullptr,
                                 dice_b ? dice_b + g * c : nullptr, weight, dlogits + base);
  }
}

__global__ void elementwise_loss_grad_kernel(const float* logits, const float* target, bool dense,
                                             ElementwiseLoss kind, int64_t voxels, int c,
                                             int64_t spatial, float coef, float* dlogits) {
  USEG_GRID_STRIDE_LOOP(i, voxels) {
    const int64_t n = i / spatial, v = i % spatial;
    const int t = dense ? -1 : ops::label_class(target[i], c);
    if (kind == ElementwiseLoss::MultiHinge) {
      ops::multi_hinge_grad_voxel(logits + n * c * spatial + v, c, spatial, t, coef,
                                  dlogits + n * c * spatial + v);
      continue;
    }
    const bool mse = kind == ElementwiseLoss::MSE;
    for (int ch = 0; ch < c; ++ch) {
      const int64_t e = (n * c + ch) * spatial + v;
      const float o = dense ? target[e] : ops::onehot(t, ch);
      dlogits[e] = mse ? ops::mse_grad(logits[e], o, coef) : ops::hinge_grad(logits[e], o, coef);
    }
  }
}

// The per-thread accumulators hold 1 + 3 (MaxC - 1) doubles: the smallest instantiation that
// fits the channel count keeps the stack frame (local memory) small for the common 2..8 classes.
template <int MaxC>
void softmax_terms_as(const RowLayout& l, int k, const SoftmaxLossTerm& term, double* partials,
                      cudaStream_t s) {
  launch_row_reduce<1 + 3 * (MaxC - 1)>("softmax_loss_terms", l, k, term, partials, s);
}

}  // namespace

void launch_find_bad_label(const float* labels, int64_t n, int channels,
                           unsigned long long* first_bad, cudaStream_t s) {
  if (n <= 0) return;
  find_bad_label_kernel<<<elementwise_blocks(n), kBlockThreads, 0, s>>>(labels, n, channels,
                                                                        first_bad);
  USEG_KERNEL_CHECK("find_bad_label_kernel");
}

void launch_softmax_loss_terms(const float* logits, const float* labels, int64_t n, int c,
                               int64_t spatial, bool dice, double* partials, cudaStream_t s) {
  USEG_CHECK(!dice || c <= kMaxDiceClasses,
             "loss_forward_backward: a Dice term over " << c << " channels exceeds the CUDA "
                                                        << "backend's limit of "
                                                        << kMaxDiceClasses << " classes");
  const RowLayout l{n, 1, spatial, spatial, 0};
  const SoftmaxLossTerm term{logits, labels, c, spatial, dice};
  if (!dice) return launch_row_reduce<1>("softmax_loss_terms", l, 1, term, partials, s);
  const int k = 1 + 3 * (c - 1);
  if (c <= 2) return softmax_terms_as<2>(l, k, term, partials, s);
  if (c <= 4) return softmax_terms_as<4>(l, k, term, partials, s);
  if (c <= 8) return softmax_terms_as<8>(l, k, term, partials, s);
  if (c <= 16) return softmax_terms_as<16>(l, k, term, partials, s);
  if (c <= 32) return softmax_terms_as<32>(l, k, term, partials, s);
  return softmax_terms_as<kMaxDiceClasses>(l, k, term, partials, s);
}

void launch_softmax_loss_grad(const float* logits, const float* labels, int64_t n, int c,
                              int64_t spatial, float ce_coef, const float* dice_a,
                              const float* dice_b, bool batch_dice, float weight, float* dlogits,
                              cudaStream_t s) {
  const int64_t voxels = n * spatial;
  if (voxels <= 0) return;
  softmax_loss_grad_kernel<<<elementwise_blocks(voxels), kBlockThreads, 0, s>>>(
      logits, labels, voxels, c, spatial, ce_coef, dice_a, dice_b, batch_dice, weight, dlogits);
  USEG_KERNEL_CHECK("softmax_loss_grad_kernel");
}

void launch_elementwise_loss_terms(const float* logits, const float* target, bool dense,
                                   ElementwiseLoss kind, int64_t n, int c, int64_t spatial,
                                   double* partials, cudaStream_t s) {
  const RowLayout l{n, 1, spatial, spatial, 0};
  launch_row_reduce<1>("elementwise_loss_terms", l, 1,
                       ElementwiseLossTerm{logits, target, dense, kind, c, spatial}, partials, s);
}

void launch_elementwise_loss_grad(const float* logits, const float* target, bool dense,
                                  ElementwiseLoss kind, int64_t n, int c, int64_t spatial,
                                  float coef, float* dlogits, cudaStream_t s) {
  const int64_t voxels = n * spatial;
  if (voxels <= 0) return;
  elementwise_loss_grad_kernel<<<elementwise_blocks(voxels), kBlockThreads, 0, s>>>(
      logits, target, dense, kind, voxels, c, spatial, coef, dlogits);
  USEG_KERNEL_CHECK("elementwise_loss_grad_kernel");
}

}  // namespace useg::gpu
