// The network of a model config, its parameters and model folders. Tensor names and shapes of its
// state follow scripts/torch_unet.py, so PyTorch state_dicts load as-is (docs/model-format.md).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "useg/backend.h"
#include "useg/config.h"
#include "useg/tensor.h"

namespace useg {

// A learnable tensor (grad allocated by the first backward) or a buffer (BatchNorm running
// statistics: no grad). `value` lives on the model's device; `torch_shape` is the shape in the
// state_dict (rank 4 for 2D conv weights, rank 5 for 3D; [C] for vectors).
struct Parameter {
  std::string name;
  Tensor value;
  Tensor grad;
  std::vector<int64_t> torch_shape;
};

namespace nn {
struct Graph;  // src/nn/graph.h
}

// A network built from a ModelConfig (today the U-Net of include/useg/config.h) as a graph of
// layers (src/nn/graph.h), running on a Backend with explicit forward and backward (no autograd).
class Network {
 public:
  Network(const ModelConfig& config, Backend& backend);
  ~Network();
  Network(Network&&) noexcept;
  Network& operator=(Network&&) noexcept;

  const ModelConfig& config() const;
  const nn::Graph& graph() const;
  Backend& backend();

  // x [N, in_channels, D, H, W] on the backend's device; every spatial size must be a multiple
  // of size_multiple() on its axis. Returns the full-resolution logits [N, classes, D, H, W],
  // followed — with deep supervision, in training mode — by the logits of decoder levels 1..
  // depth-1. In training mode the layers keep what backward needs, BatchNorm uses batch
  // statistics and updates its running statistics, and dropout is active.
  std::vector<Tensor> forward(const Tensor& x, bool training);

  // Backward of the last training forward. d_outputs matches forward's outputs (an undefined
  // Tensor means "no gradient for this output"). Overwrites every parameter's grad; returns
  // d(input) when need_input_grad, else an undefined Tensor. `grad_ready`, when given, is called
  // once per learnable parameter as soon as its grad is final (in the order the backward pass
  // finishes them, the same on every call): data-parallel training starts summing the first
  // gradients over the ranks while the rest of the backward runs.
  using GradReady = std::function<void(Parameter&)>;
  Tensor backward(const std::vector<Tensor>& d_outputs, bool need_input_grad = false,
                  const GradReady& grad_ready = {});

  // In eval mode forward() runs the plan the backend compiles from the graph when it offers one
  // for the input shape (same results within float rounding; faster). The plan keeps prepared
  // copies of the weights, refreshed after load_state, init_weights, a training forward or a
  // call of parameters()/buffers(): change weights through pointers from one of those calls.
  // Disabling it forces the per-op forward (for comparisons and tests).
  void set_inference_plan(bool enabled);

  std::vector<Parameter*> parameters();   // learnable, in state_dict order
  std::vector<Parameter*> buffers();      // running statistics
  int64_t num_parameters() const;
  std::array<int64_t, 3> size_multiple() const;  // [D, H, W] product of pool sizes

  // He (Kaiming normal, fan-in, gain for the activation) weights, zero biases, unit norm scales.
  void init_weights(uint64_t seed);
  void set_dropout_seed(uint64_t seed);

  // Strict: every expected tensor present with the expected shape (2D conv weights may be given
  // rank 4 or 5), nothing unexpected (BatchNorm's num_batches_tracked is accepted and ignored).
  // Errors name `source`, the tensor and the shapes.
  void load_state(const std::map<std::string, Tensor>& tensors, const std::string& source);
  std::vector<std::pair<std::string, Tensor>> state_dict() const;  // CPU copies, torch shapes

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

// A model directory: model.json + weights.safetensors.
struct LoadedModel {
  ModelInfo info;
  std::unique_ptr<Network> net;
};
LoadedModel load_model_dir(const std::string& dir, Backend& backend);
// Writes weights.safetensors then model.json, each atomically; creates `dir` if needed.
void save_model_dir(const std::string& dir, const ModelInfo& info, const Network& net);

// Architecture summary for `useg info`.
struct StageSummary {
  std::string name;             // "enc0", ..., "bottleneck", "dec3", ..., "head"
  int in_channels = 0, out_channels = 0;
  std::array<int, 3> kernel{1, 1, 1};
  std::array<int64_t, 3> scale{1, 1, 1};  // downsampling factor relative to the input
  int64_t params = 0;
  double flops_per_voxel = 0;   // per input voxel (2 * MACs)
};
struct ModelSummary {
  std::vector<StageSummary> stages;
  int64_t params = 0;
  double flops_per_voxel = 0;
  std::array<int64_t, 3> receptive_field{1, 1, 1};  // [D, H, W] voxels
  std::array<int64_t, 3> size_multiple{1, 1, 1};
};
ModelSummary summarize(const ModelConfig& config);
ModelSummary summarize(const nn::Graph& graph);
std::string format_summary(const ModelConfig& config, const ModelSummary& s);

// An estimate of the memory one training step takes (`useg plan` fits patch and batch to a
// budget with it): activations = 4 bytes x batch x (what the forward keeps for the backward at
// this patch, src/nn/summary.cpp says what + two of the largest values for the gradients + input
// and target); parameters = 4 bytes x 4 per parameter (weight, gradient, two optimizer moments).
struct TrainingMemory {
  int64_t activation_bytes = 0;
  int64_t parameter_bytes = 0;
  int64_t total() const { return activation_bytes + parameter_bytes; }
};
TrainingMemory training_step_memory(const ModelConfig& config, const std::array<int64_t, 3>& patch,
                                    int batch);

}  // namespace useg
