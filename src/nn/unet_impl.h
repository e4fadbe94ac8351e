// Internal structure of useg::UNet (include/useg/model.h).
#pragma once

#include <memory>
#include <vector>

#include "nn/layers.h"

namespace useg::nn {

class UNetImpl {
 public:
  UNetImpl(const ModelConfig& cfg, Backend& be);
  std::vector<Tensor> forward(const Tensor& x, bool training);
  Tensor backward(const std::vector<Tensor>& d_outputs, bool need_input_grad);
  std::vector<Parameter*> params();
  std::vector<Parameter*> buffers();
  std::array<int64_t, 3> size_multiple() const;

  ModelConfig cfg;
  Backend& backend;
  std::vector<Stage> encoder;   // depth + 1 stages
  std::vector<PoolGeom> pools;  // depth
  std::vector<Conv> ups;        // depth transposed convs, ups[s] feeds decoder[s]
  std::vector<Stage> decoder;   // depth stages, decoder[s] outputs level s
  std::vector<Conv> heads;      // head, then ds_heads
  uint64_t dropout_seed = 0;
  uint64_t dropout_step = 0;

  // Eval-mode forwards run through the backend's InferencePlan when it has one. The plan holds
  // prepared copies of the weights, so anything that may change them bumps weights_epoch and
  // the next eval forward prepares them again.
  bool use_plan = true;
  uint64_t weights_epoch = 1;
  void weights_changed() { ++weights_epoch; }

 private:
  std::vector<Tensor> pool_inputs;
  std::unique_ptr<InferencePlan> plan;
  uint64_t plan_epoch = 0;
  bool forward_plan(const Tensor& x, std::vector<Tensor>& outs);
  bool last_was_training = false;
  size_t num_outputs = 0;
};

}  // namespace useg::nn
