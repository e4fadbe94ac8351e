// Argument checks shared by the CPU ops: each throws useg::Error naming the op, the argument and
// the shapes involved, e.g.
//   "instance_norm_forward: gamma [3] does not match 4 channels of x [1, 4, 1, 7, 5]".
// They only look at shapes and devices, so a CUDA backend can call them too (move them to
// src/core then).
#pragma once

#include <cstdint>

#include "useg/tensor.h"

namespace useg {

// t is defined, lives on `device`, and is rank 5 (N, C, D, H, W).
void check_activation(const char* op, const char* name, const Tensor& t, Device device);
// t is defined and lives on `device` (any shape).
void check_tensor(const char* op, const char* name, const Tensor& t, Device device);
// b has exactly a's shape.
void check_same_shape(const char* op, const char* a_name, const Tensor& a, const char* b_name,
                      const Tensor& b);
// p is a rank-1 [C] parameter matching the channels of x (the message names both shapes).
void check_channel_param(const char* op, const char* name, const Tensor& p, const Tensor& x,
                         Device device);
// p is rank 1 with exactly `count` values; `what` says what the count is (e.g. "N*C").
void check_vector(const char* op, const char* name, const Tensor& p, int64_t count,
                  const char* what, Device device);
// t has no zero-sized dimension (ops that average over it).
void check_not_empty(const char* op, const char* name, const Tensor& t);

}  // namespace useg
