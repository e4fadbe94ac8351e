// Argument checks shared by every backend's ops: each throws useg::Error naming the op, the
// argument and the shapes involved, e.g.
//   "instance_norm_forward: gamma [3] does not match 4 channels of x [1, 4, 1, 7, 5]".
// They only look at shapes, devices and scalar arguments (never at tensor data); the Backend front
// (src/core/backend.cpp) calls them before every op, so every device reports the same messages.
//   op_checks.cpp      the building blocks and the elementwise / norm ops
//   op_checks_ops.cpp  losses, optimizers, sliding window and flip
//   op_checks_conv.cpp pooling and convolution
#pragma once

#include <cstdint>
#include <string>

#include "useg/backend.h"
#include "useg/tensor.h"

namespace useg {

// ---- building blocks
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

// ---- elementwise ops (op_checks.cpp)
// a, b and y on `device` with one shape.
void check_binary(const char* op, const Tensor& a, const Tensor& b, const Tensor& y,
                  Device device);
// y = [a, b] along channels (shared by concat and split).
void check_concat(const char* op, const Tensor& a, const Tensor& b, const Tensor& y,
                  Device device);
void check_activation_forward(const Tensor& x, const Tensor& y, Device device);
// Only the tensor the derivative is taken at must be given (x or y, see backend.h).
void check_activation_backward(Activation a, const Tensor& x, const Tensor& y, const Tensor& dy,
                               const Tensor& dx, Device device);
void check_activation_sign_bits(const Tensor& t, const Tensor& bits, Device device);
void check_activation_backward_bits(Activation a, const Tensor& bits, const Tensor& dy,
                                    const Tensor& dx, Device device);
void check_softmax(const Tensor& x, const Tensor& y, Device device);
void check_dropout(const Tensor& x, float p, const Tensor& y, const Tensor& mask, Device device);

// ---- normalization (op_checks.cpp)
void check_norm_forward(const char* op, const Tensor& x, const Tensor* gamma, const Tensor* beta,
                        float eps, const Tensor& y, Device device);
// save_mean / save_invstd hold `groups` values (groups_what: "N*C" or "C").
void check_norm_backward(const char* op, const Tensor& x, const Tensor& dy, const Tensor* gamma,
                         const Tensor& save_mean, const Tensor& save_invstd, int64_t groups,
                         const char* groups_what, const Tensor& dx, const Tensor* dgamma,
                         const Tensor* dbeta, Device device);
// The extra arguments of batch_norm_forward_training (after check_norm_forward).
void check_batch_norm_training(const char* op, const Tensor& x, float momentum,
                               const Tensor& running_mean, const Tensor& running_var,
                               const Tensor& save_mean, const Tensor& save_invstd, Device device);

// ---- losses and optimizers (op_checks_ops.cpp)
struct LossTarget {
  bool elementwise;  // MSE, hinge or multi-class hinge (no softmax; normalized by the elements)
  bool dense;        // target shaped like the logits (else a label map to validate)
};
LossTarget check_loss(const LossSpec& spec, const Tensor& logits, const Tensor& target,
                      const Tensor* dlogits, Device device);
// What check_loss returns, without the checks (for the devices' implementations).
LossTarget loss_target(const LossSpec& spec, const Tensor& logits, const Tensor& target);
// Returns whether the step uses the momentum buffer.
bool check_sgd(const Tensor& param, const Tensor& grad, const Tensor* momentum_buf,
               const SgdStep& s, Device device);
void check_adam(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v,
                const AdamStep& s, Device device);

// ---- sliding window and mirroring (op_checks_ops.cpp)
void check_window_accumulate(const Tensor& probs, int64_t n, const Tensor& weight,
                             const Tensor& accum, const Tensor& weight_sum, Device device);
void check_argmax(const Tensor& x, const Tensor& labels, Device device);
void check_flip(const Tensor& x, int axes, const Tensor& y, Device device);

// ---- pooling and convolution (op_checks_conv.cpp). Tensors are rank 5 with non-empty channel
// and spatial sizes (N may be 0); weights [Co, Ci, k] (conv) or [Ci, Co, k] (transposed).
void check_conv_forward(const char* op, const Tensor& x, const Tensor& w, const Tensor* bias,
                        const Tensor& y, const ConvGeom& g, Device device);
void check_conv_backward_data(const char* op, const Tensor& dy, const Tensor& w, const Tensor& dx,
                              const ConvGeom& g, Device device);
void check_conv_backward_weights(const char* op, const Tensor& x, const Tensor& dy,
                                 const Tensor& dw, const Tensor* dbias, const ConvGeom& g,
                                 Device device);
// The same for an input known by its shape and device only (a released input whose backend
// handle holds it: Backend::ConvSaved).
void check_conv_backward_weights(const char* op, const Shape& xs, Device x_device,
                                 const Tensor& dy, const Tensor& dw, const Tensor* dbias,
                                 const ConvGeom& g, Device device);
void check_deconv_forward(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y,
                          const ConvGeom& g, Device device);
void check_deconv_backward_data(const Tensor& dy, const Tensor& w, const Tensor& dx,
                                const ConvGeom& g, Device device);
void check_deconv_backward_weights(const Tensor& x, const Tensor& dy, const Tensor& dw,
                                   const Tensor* dbias, const ConvGeom& g, Device device);
void check_maxpool_forward(const Tensor& x, const Tensor& y, const PoolGeom& g, Device device);
void check_maxpool_backward(const Tensor& x, const Tensor& dy, const Tensor& dx,
                            const PoolGeom& g, Device device);
void check_maxpool_offsets(const Tensor& x, const Tensor& offsets, const PoolGeom& g,
                           Device device);
void check_maxpool_backward_offsets(const Tensor& offsets, const Tensor& dy, const Tensor& dx,
                                    const PoolGeom& g, Device device);
void check_avgpool_forward(const Tensor& x, const Tensor& y, const PoolGeom& g, Device device);
void check_avgpool_backward(const Tensor& dy, const Tensor& dx, const PoolGeom& g, Device device);
// Global pooling: `pooled` is [N, C, 1, 1, 1] for `full` [N, C, D, H, W] (forward: full = x,
// pooled = y; backward: full = dx, pooled = dy).
void check_global_avg_pool(const char* op, const Tensor& full, const char* full_name,
                           const Tensor& pooled, const char* pooled_name, Device device);
// "kernel 1x3x3 stride 1x1x1 pad 0x1x1" (and without pad for pooling), as the messages say it.
std::string geom_str(const ConvGeom& g);
std::string geom_str(const PoolGeom& g);

}  // namespace useg
