// The gradient all-reduce's buffer of data-parallel training (train/distributed.cpp): one float
// tensor on the training device that holds every parameter's gradient times this rank's weight,
// every buffer (BatchNorm's running statistics) times 1 / ranks, and the weighted loss in the
// last element. Packed and unpacked with the backend's own ops (fill, copy, scale), so a CUDA
// run's gradients stay on the GPU unless the communicator must stage them (MPI goes through host
// memory; NCCL sums them in place).
//
// Overlap with the backward pass (PyTorch DDP's buckets): the parameters are laid out in reverse
// order — the order the backward pass finishes their gradients — and cut into segments of about
// `segment_bytes`. The network's backward reports each gradient as soon as it is final (ready());
// the bucket packs it at once, and when every gradient of a segment is in, and every segment
// before it has started, it starts that segment's sum (Communicator::allreduce_start) while the
// backward goes on with the layers below. finish() packs what was not reported, the buffers and
// the loss, starts the rest and waits. Every rank lays out the same segments from the same model
// and starts them in the same order. Where the communicator cannot sum the device's memory in
// place (MPI with a CUDA bucket), or with segment_bytes 0, the whole bucket is summed in finish()
// by one allreduce_tensor: the sums are the same numbers either way (each element is the sum of
// the ranks' values of that element), so the weights do not depend on the segmentation.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "dist/communicator.h"
#include "useg/backend.h"
#include "useg/model.h"
#include "useg/tensor.h"

namespace useg::training {

class GradientBucket {
 public:
  // Starts a step: lays the bucket out on be's device for `params` and `buffers` (again only
  // when the model or segment size changed). Every gradient is packed times w; with
  // `zero_grads` (this rank's loss was not finite and its backward did not run) as zeros.
  void begin(Backend& be, dist::Communicator& comm, const std::vector<Parameter*>& params,
             const std::vector<Parameter*>& buffers, float w, bool zero_grads,
             int64_t segment_bytes);
  // p's gradient is final (Network::backward's grad_ready): packs it, and starts the sums of the
  // segments that are complete. Each parameter at most once per step.
  void ready(const Parameter& p);
  // After the backward: packs the gradients ready() did not see (zeros where a parameter has no
  // gradient), buffer_w * each buffer and `loss`, starts the remaining sums and waits for all.
  void finish(float buffer_w, float loss);
  // The last element (the reduced loss), copied to the host.
  float loss() const;
  // Writes the bucket back: the gradients (of parameters that have one) and the buffers.
  void unpack(Backend& be, const std::vector<Parameter*>& params,
              const std::vector<Parameter*>& buffers) const;

  int64_t numel() const { return m_data.defined() ? m_data.numel() : 0; }
  // Segments of the last step (the buffers and the loss are the last one), and how many of them
  // started before finish(): the sums that overlapped the backward pass.
  int segments() const { return int(m_segment_end.size()); }
  int started_early() const { return m_started_early; }

 private:
  Tensor part(int64_t offset, const Shape& shape) const;  // a view of numel() floats at offset
  int64_t buffers_offset() const;                         // the buffers follow the gradients
  void pack(size_t index);                                // parameter `index` (state order)
  void start(size_t segment);

  Backend* m_be = nullptr;
  dist::Communicator* m_comm = nullptr;
  std::vector<Parameter*> m_params, m_buffers;
  std::unordered_map<const Parameter*, size_t> m_index;  // parameter -> its index in m_params
  std::vector<int64_t> m_offset;                          // per parameter: where it is packed
  std::vector<size_t> m_segment_of;                       // per parameter
  std::vector<int64_t> m_segment_end;                     // per segment: its end in the bucket
  int64_t m_segment_bytes = -1;
  bool m_overlap = false;  // segments are summed as they complete

  // This step's state.
  float m_w = 1.f;
  bool m_zero_grads = false;
  std::vector<bool> m_packed;       // per parameter
  std::vector<size_t> m_pending;    // per segment: gradients not yet packed
  size_t m_next_start = 0;          // the next segment to start
  int m_started_early = 0;
  bool m_in_step = false;
  Tensor m_data;
};

}  // namespace useg::training
