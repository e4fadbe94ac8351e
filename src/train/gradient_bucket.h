// The gradient all-reduce's buffer of data-parallel training (train/distributed.cpp): one float
// tensor on the training device that holds, in this order, every parameter's gradient times this
// rank's weight, every buffer (BatchNorm's running statistics) times 1 / ranks, and the weighted
// loss in the last element. Packed and unpacked with the backend's own ops (fill, copy, scale), so
// a CUDA run's gradients stay on the GPU unless the communicator must stage them (MPI goes through
// host memory; NCCL sums them in place).
#pragma once

#include <vector>

#include "useg/backend.h"
#include "useg/model.h"
#include "useg/tensor.h"

namespace useg::training {

class GradientBucket {
 public:
  // Fills the bucket on be's device: w * grad per parameter (zeros where a parameter has no
  // gradient, or for every parameter when `zero_grads`: a rank whose loss was not finite),
  // buffer_w * value per buffer, and `loss` (this rank's weighted loss) last. Sized on first use
  // and when the model changes.
  void pack(Backend& be, const std::vector<Parameter*>& params,
            const std::vector<Parameter*>& buffers, float w, float buffer_w, float loss,
            bool zero_grads);
  // The bucket itself, for the all-reduce (it may be replaced by a tensor of the same shape).
  Tensor& tensor() { return m_data; }
  int64_t numel() const { return m_data.defined() ? m_data.numel() : 0; }
  // The last element (the reduced loss), copied to the host.
  float loss() const;
  // Writes the bucket back: the gradients (of parameters that have one) and the buffers.
  void unpack(Backend& be, const std::vector<Parameter*>& params,
              const std::vector<Parameter*>& buffers) const;

 private:
  Tensor part(int64_t offset, const Shape& shape) const;  // a view of numel() floats at offset
  Tensor m_data;
};

}  // namespace useg::training
