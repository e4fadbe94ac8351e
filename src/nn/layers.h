// The layers of the U-Net, each with an explicit forward (keeping what backward needs when
// training) and backward (writing its parameters' grads, returning the input's grad).
#pragma once

#include <array>
#include <string>
#include <vector>

#include "useg/backend.h"
#include "useg/config.h"
#include "useg/model.h"

namespace useg::nn {

// Convolution (optionally transposed) with bias.
class Conv {
 public:
  Conv(const std::string& prefix, int dims, int cin, int cout, std::array<int, 3> kernel,
       bool transposed, Device device);
  Tensor forward(Backend& be, const Tensor& x, bool training);
  Tensor backward(Backend& be, const Tensor& dy, bool need_dx);
  void collect(std::vector<Parameter*>& params) { params.push_back(&weight); params.push_back(&bias); }
  int64_t fan_in() const;

  Parameter weight, bias;
  ConvGeom geom;
  bool transposed;
  int cin, cout;

 private:
  Tensor m_x;
  Backend::ConvSaved m_saved;  // what the backend kept from the training forward (conv)
};

// Instance norm, batch norm or identity.
class Norm {
 public:
  Norm(const std::string& prefix, const ModelConfig& cfg, int channels, Device device);
  Tensor forward(Backend& be, const Tensor& x, bool training);
  Tensor backward(Backend& be, const Tensor& dy);
  void collect(std::vector<Parameter*>& params);
  void collect_buffers(std::vector<Parameter*>& buffers);
  NormKind kind;

  Parameter gamma, beta, running_mean, running_var;

 private:
  float m_eps, m_momentum;
  Tensor m_x, m_mean, m_invstd;
};

// conv -> norm [-> + residual] -> activation [-> dropout]
class Block {
 public:
  Block(const std::string& prefix, const ModelConfig& cfg, int cin, int cout,
        std::array<int, 3> kernel, Device device);
  // residual: added after the norm, before the activation (undefined = none).
  Tensor forward(Backend& be, const Tensor& x, const Tensor& residual, bool training,
                 uint64_t dropout_seed);
  // Returns dx; d_residual receives the grad of the residual input (when one was given).
  Tensor backward(Backend& be, const Tensor& dy, Tensor* d_residual);
  void collect(std::vector<Parameter*>& params) { conv.collect(params); norm.collect(params); }

  Conv conv;
  Norm norm;

 private:
  Activation m_act;
  float m_slope, m_dropout;
  Tensor m_y, m_mask;
};

// convs_per_stage blocks; with residual, the last block adds skip(x) before its activation.
class Stage {
 public:
  Stage(const std::string& prefix, const ModelConfig& cfg, int cin, int cout,
        std::array<int, 3> kernel, Device device);
  Tensor forward(Backend& be, const Tensor& x, bool training, uint64_t dropout_seed);
  Tensor backward(Backend& be, const Tensor& dy);
  void collect(std::vector<Parameter*>& params);
  void collect_buffers(std::vector<Parameter*>& buffers);
  const std::vector<Block>& blocks() const { return m_blocks; }

 private:
  std::vector<Block> m_blocks;
  bool m_residual;
  std::vector<Conv> m_skip;  // 0 or 1 projection
};

}  // namespace useg::nn
