// One graph node's forward and backward through a Backend's ops (the per-op path: training, and
// inference where the backend has no plan for the graph).
#pragma once

#include <vector>

#include "nn/graph.h"
#include "useg/model.h"

namespace useg::nn {

// What a node keeps from a training forward for its backward.
struct Saved {
  Tensor x;                   // the input (Conv, ConvTranspose, Norm, MaxPool)
  Tensor y;                   // the output (Act sigmoid / tanh: the derivative is taken at it)
  Tensor sign_bits;           // Act ReLU / LeakyReLU: y > 0, 1 bit an element (backend.h)
  Tensor pool_offsets;        // MaxPool: where each window's maximum is, 1 byte an output
  Tensor mask;                // Dropout
  Tensor mean, invstd;        // Norm
  Backend::ConvSaved conv;    // what the backend kept from conv_forward_training
  int64_t split = -1;         // Concat: the channels of the first input
  Shape in_shape;             // Flatten, GlobalAvgPool, MaxPool with offsets: the input's shape
};

// Forward of node `n` on its input values; `params` are the node's ParamSpecs' tensors.
// in_place: the node may write its output into in[0] (the executor knows nothing else reads it).
// seed: the dropout mask's seed for this node and step.
Tensor node_forward(Backend& be, const Node& n, const std::vector<Parameter*>& params,
                    const std::vector<Tensor>& in, bool training, bool in_place, uint64_t seed,
                    Saved& saved);

// Backward of node `n` given the gradient of its output: writes its parameters' gradients
// (overwritten) and returns the gradient of each input, undefined where need_dx[i] is false.
// Add passes dy itself on to both inputs (the executor does not write into it then).
std::vector<Tensor> node_backward(Backend& be, const Node& n, const std::vector<Parameter*>& params,
                                  const Tensor& dy, const std::vector<bool>& need_dx,
                                  Saved& saved);

// Zero gradients for a node whose output got none (a deep-supervision head without a loss).
void zero_param_grads(Backend& be, const Node& n, const std::vector<Parameter*>& params);

// True where an activation's training forward keeps its output's signs (Backend::
// activation_sign_bits) instead of the output: ReLU, and LeakyReLU with a slope >= 0 (where
// y > 0 exactly where x > 0).
inline bool act_keeps_sign_bits(const Node& n) {
  return n.act == Activation::ReLU || (n.act == Activation::LeakyReLU && n.slope >= 0.f);
}

// True where a max pooling's training forward keeps its maxima's offsets instead of its input
// (Backend::maxpool_offsets: windows of at most Backend::kMaxPoolOffsetWindow voxels).
inline bool maxpool_keeps_offsets(const PoolGeom& g) {
  return int64_t(g.kernel[0]) * g.kernel[1] * g.kernel[2] <= Backend::kMaxPoolOffsetWindow;
}

// True for the kinds that may compute in place into their first input.
inline bool may_run_in_place(OpKind k) { return k == OpKind::Act || k == OpKind::Add; }

// False for the kinds whose output shares the storage of their input (a view, or the identity)
// in this mode: nothing may write into such a value in place.
inline bool makes_fresh_output(const Node& n, bool training) {
  if (n.kind == OpKind::Dropout) return training && n.p > 0;  // else the identity
  return n.kind != OpKind::Input && n.kind != OpKind::Flatten;
}

}  // namespace useg::nn
