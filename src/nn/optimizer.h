// Optimizers over a model's parameters, with global-norm gradient clipping and a state that a
// checkpoint saves and restores exactly (so a resumed run continues bit for bit on the CPU).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "useg/backend.h"
#include "useg/model.h"

namespace useg {

struct OptimizerConfig {
  std::string type = "sgd";  // sgd | adam | adamw
  double momentum = 0.99;    // sgd
  bool nesterov = true;      // sgd
  double weight_decay = 0.0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // adam, adamw
};

class Optimizer {
 public:
  Optimizer(const OptimizerConfig& cfg, std::vector<Parameter*> params, Backend& backend);

  // Scales every grad so that their global L2 norm is at most max_norm (no-op when max_norm
  // <= 0); returns the norm before clipping.
  double clip_grad_norm(double max_norm);
  // One update with learning rate lr from the parameters' current grads.
  void step(double lr);
  int64_t steps() const { return m_steps; }

  // State for checkpoints: tensors named "<kind>.<param name>" (CPU copies) and the step count.
  std::vector<std::pair<std::string, Tensor>> state() const;
  void load_state(const std::map<std::string, Tensor>& tensors, int64_t steps,
                  const std::string& source);

 private:
  OptimizerConfig m_cfg;
  std::vector<Parameter*> m_params;
  Backend& m_backend;
  std::vector<Tensor> m_a, m_b;  // sgd: momentum buffers; adam: first and second moments
  int64_t m_steps = 0;
};

}  // namespace useg
