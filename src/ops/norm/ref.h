// Naive references of instance and batch norm: textbook formulas in double (ref.cpp).
#pragma once

#include "ops/ref_util.h"
#include "useg/backend.h"

namespace useg::ref {

// Groups are (n, c) for instance norm, c for batch norm.
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

}  // namespace useg::ref
