// Naive references for the non-convolution ops, written from the textbook / PyTorch definitions
// as straightforward double-precision loops. They deliberately share no code with src/ops: a
// bug there cannot hide in here. Vectors are flat NCDHW (row-major) in double.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "useg/backend.h"
#include "useg/tensor.h"

namespace useg::ref {

using Vec = std::vector<double>;

Vec to_vec(const Tensor& t);                     // any device -> host doubles
Tensor to_tensor(const Vec& v, const Shape& s);  // host float tensor
int64_t index5(const Shape& s, int64_t n, int64_t c, int64_t d, int64_t h, int64_t w);

// Central differences of f at x, one element at a time: (f(x + h e_i) - f(x - h e_i)) / 2h.
Vec numeric_gradient(const std::function<double(const Vec&)>& f, const Vec& x, double h);

// ---- activations (misc_ref.cpp)
double activation(Activation a, double alpha, double x);
double activation_derivative(Activation a, double alpha, double x);  // f'(x), f'(0) from the left

// ---- softmax, argmax, concat, window (misc_ref.cpp)
Vec softmax_channels(const Vec& x, const Shape& s);
Vec argmax_channels(const Vec& x, const Shape& s);  // [N, 1, D, H, W], first max on ties
Vec concat_channels(const Vec& a, const Shape& sa, const Vec& b, const Shape& sb);
// Adds window n of probs into accum / weight_sum, skipping voxels outside the volume.
void window_accumulate(const Vec& probs, const Shape& ps, int64_t n, const Vec& weight,
                       const std::array<int64_t, 3>& offset, Vec& accum, const Shape& as,
                       Vec& weight_sum);

// ---- normalization (norm_ref.cpp). Groups are (n, c) for instance norm, c for batch norm.
struct NormForward {
  Vec y;
  Vec mean;          // per group
  Vec var;           // biased, per group
  Vec var_unbiased;  // per group (NaN for a group of one value)
};
// gamma/beta null = no affine parameters.
NormForward instance_norm(const Vec& x, const Shape& s, const Vec* gamma, const Vec* beta,
                          double eps);
NormForward batch_norm_training(const Vec& x, const Shape& s, const Vec* gamma, const Vec* beta,
                                double eps);
Vec batch_norm_inference(const Vec& x, const Shape& s, const Vec* gamma, const Vec* beta,
                         const Vec& running_mean, const Vec& running_var, double eps);
// PyTorch: running = (1 - momentum) * running + momentum * batch statistic (unbiased var).
void batch_norm_update_running(const NormForward& f, double momentum, Vec& running_mean,
                               Vec& running_var);

// The textbook backward (Ioffe & Szegedy 2015, chain rule through mean and variance), with the
// statistics recomputed from x in double.
struct NormBackward {
  Vec dx, dgamma, dbeta;
};
NormBackward instance_norm_backward(const Vec& x, const Shape& s, const Vec& dy, const Vec* gamma,
                                    double eps);
NormBackward batch_norm_backward(const Vec& x, const Shape& s, const Vec& dy, const Vec* gamma,
                                 double eps);

// ---- losses (loss_ref.cpp): spec.weight * loss as defined in backend.h. target is a label map
// [N, 1, D, H, W] or, for MSE / hinge, a dense tensor shaped like the logits.
double loss(const LossSpec& spec, const Vec& logits, const Shape& s, const Vec& target,
            const Shape& target_shape);

// ---- optimizers (optim_ref.cpp): one torch.optim step, unrolled by hand.
struct SgdState {
  Vec momentum_buffer;  // empty until the first step, as torch's state
};
void sgd_step(Vec& param, const Vec& grad, SgdState& state, double lr, double momentum,
              bool nesterov, double weight_decay);
struct AdamState {
  Vec exp_avg, exp_avg_sq;  // zero-initialised on the first step
  int64_t step = 0;
};
void adam_step(Vec& param, const Vec& grad, AdamState& state, double lr, double beta1, double beta2,
               double eps, double weight_decay, bool decoupled);

}  // namespace useg::ref
