// Runs a graph op by op on a Backend: the training forward and backward, and the reference
// inference path (backends without a plan for the graph run it too).
//
// Forward walks the nodes in order. A node's output is released as soon as its last reader has
// run (inference keeps only what is still needed); an activation or a sum writes into its
// input when that input has no other reader and is not the caller's tensor. Backward walks the
// nodes in reverse and adds up the gradients of values with several readers (the skip of a
// U-Net level, a residual input); a node whose output got no gradient zeroes its parameters'
// gradients.
#pragma once

#include <functional>
#include <vector>

#include "nn/graph.h"
#include "nn/node_ops.h"

namespace useg::nn {

class Executor {
 public:
  // params[id] are node id's parameter tensors, in the order of its ParamSpecs.
  Executor(const Graph& graph, Backend& backend, std::vector<std::vector<Parameter*>> params);

  // Returns outputs[0]'s value, and in training every output. seed keys this step's dropout
  // masks (each node mixes in its id).
  std::vector<Tensor> forward(const Tensor& x, bool training, uint64_t seed);

  // Backward of the last training forward: d_outputs matches its outputs (undefined = no
  // gradient for that output; the first is required). Overwrites every parameter's gradient;
  // returns d(input) when need_input_grad, else an undefined Tensor. grad_ready (optional) is
  // called for each learnable parameter of a node right after that node's backward (or the
  // zeroing of its gradients): a node owns its parameters, so they are final then.
  Tensor backward(const std::vector<Tensor>& d_outputs, bool need_input_grad,
                  const std::function<void(Parameter&)>& grad_ready = {});

 private:
  const Graph& m_graph;
  Backend& m_backend;
  std::vector<std::vector<Parameter*>> m_params;
  std::vector<Saved> m_saved;
  bool m_backward_ready = false;  // a training forward ran and no backward since
  size_t m_num_outputs = 0;
};

}  // namespace useg::nn
