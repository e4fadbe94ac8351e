// The CPU backend's whole-network inference path (Backend::compile).
//
// The per-op API hands oneDNN plain NCDHW tensors, so every convolution reorders its input into
// the channel-blocked layout and its output back (and the weights too), on every call. A plan is
// built once for (model config, input shape) and instead:
//  - keeps every activation in the blocked layout (nChw8c / nCdhw8c, 16c on AVX-512 machines)
//    from the first convolution to the head: the only reorders are the input and the logits;
//  - prepares the weights once in the layout each primitive chose (format_tag::any), in
//    set_weights(), which also folds an inference batch norm into its convolution;
//  - fuses: conv + bias + activation as one oneDNN primitive (post-op) where no instance norm
//    sits between them; instance norm + residual + activation as one pass of our own over the
//    blocked layout (blocked_ops.h);
//  - runs every 3x3 (3x3x3) convolution on blocked activations as a Winograd F(2,3) convolution
//    of our own (winograd.h: 2.25x / 3.375x fewer multiplies; oneDNN has Winograd only for
//    AVX-512) where the CPU has AVX2 + FMA and the blocks are 8 channels, unless the backend's
//    conv_algorithm is "direct";
//  - runs each transposed conv (stride = kernel) as a 1x1 conv to k*C channels and a scatter of
//    channel blocks (oneDNN's deconvolution is a backward-data conv, several times slower);
//  - concatenates skips for free: a decoder level's buffer holds [upsampled, skip] blocked, the
//    encoder writes its output straight into the skip half and the transposed conv into the
//    other half (a copy only when the split is not on a channel-block boundary);
//  - reuses activation buffers: three ping-pong buffers, a pooling buffer, a residual buffer and
//    one concat buffer per level, allocated once;
//  - runs a batch sample by sample through primitives built for one sample.
//
// The plan is compiled from the network's graph (src/nn/graph.h): each convolution absorbs the
// nodes after it that it can fuse (batch norm folded, instance norm + residual + activation as a
// Finish step, or the activation as a post-op), a concat places its inputs in the halves of its
// buffer, and buffers are assigned by liveness. Graphs with nodes it does not recognize (an
// activation other than ReLU / leaky ReLU with slope in [0, 1], a norm or sum without a
// convolution before it, even kernels) get no plan (Backend::compile returns null) and run the
// per-op forward.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "cpu/blocked_ops.h"
#include "cpu/winograd.h"
#include "nn/graph.h"
#include "useg/backend.h"

namespace useg::cpu {

// The channel block of the plan's layouts on this CPU: 16 where oneDNN runs AVX-512 kernels,
// else 8. Channel counts that are not a multiple of it may leave oneDNN only its reference
// kernels, and then no plan is built.
int plan_block_size();
// True when the plan computes its 3x3(x3) convolutions as Winograd steps here (conv_algorithm
// "auto" on an AVX2 + FMA machine whose plans use 8-channel blocks).
bool plan_uses_winograd();

// Where an activation lives: a plan buffer (or the caller's input/output), a float offset into
// it, and its oneDNN descriptor for one sample.
struct PlanView {
  int value = -1;  // the builder's logical value (before buffers are assigned)
  int buf = -1;  // index into CpuInferencePlan::m_bufs; kUserIn / kUserOut for the caller's
  int64_t offset = 0;
  int64_t channels = 0, spatial = 0;
  dnnl::memory::desc md;
};

// A convolution's weights as the state_dict names them, and where set_weights() puts them.
struct PlanWeights {
  std::string weight, bias;              // parameter names
  std::string bn_prefix;                 // "<...>.norm" when a batch norm is folded in, else ""
  float bn_eps = 1e-5f;
  bool transposed = false;
  // A transposed conv (stride = kernel) run as a 1x1 conv to k*Co channels: k offsets, Co.
  int64_t upsample_k = 0, upsample_co = 0;
  Shape shape;                           // the parameter's useg shape (the 1x1 conv's, then)
  dnnl::memory::desc user_md, prim_md;   // caller's layout, primitive's layout
  std::shared_ptr<void> data;            // prepared weights (prim_md)
  std::shared_ptr<WinogradConv> wino;    // set when our Winograd conv runs it (then no prim)
  std::vector<float> bias_data;
};

struct PlanStep {
  enum class Kind { Reorder, Conv, Deconv, Pool, Finish, Concat, Shuffle };
  PlanStep(Kind k, std::string n) : kind(k), name(std::move(n)) {}
  Kind kind;
  std::string name;
  dnnl::primitive prim;          // Reorder, Conv, Deconv, Pool
  dnnl::memory::desc scratch_md; // the primitive's scratchpad (may be empty)
  PlanView src, dst;
  PlanView src2;                 // Concat: second input; Finish: residual (buf -1 = none)
  int weights = -1;              // index into m_weights (Conv, Deconv)
  std::string norm_prefix;       // Finish with instance norm: "<...>.norm"
  FinishSpec finish;             // gamma/beta pointers are filled by set_weights()
  int64_t in_dhw[3] = {1, 1, 1}; // Shuffle: input spatial size
  int kernel[3] = {1, 1, 1};     // Shuffle: upsampling factors
  bool activate = false;         // Conv run by Winograd: the fused activation's slope
  float slope = 0.f;
  std::string impl;              // oneDNN implementation name, for describe()
  double gflop = 0;              // analytic FLOPs per sample (Conv, Deconv), 1e9
};

class CpuInferencePlan final : public InferencePlan {
 public:
  static constexpr int kUserIn = -2, kUserOut = -3;

  // Returns null when the config is outside what a plan supports (see above).
  // winograd: use WinogradConv where it applies (see above).
  static std::unique_ptr<CpuInferencePlan> build(const dnnl::engine& engine,
                                                 const nn::Graph& graph, const Shape& input,
                                                 bool winograd);

  const Shape& input_shape() const override { return m_input; }
  void set_weights(const std::vector<const Parameter*>& tensors) override;
  void run(const Tensor& x, Tensor& logits) override;
  void set_profiling(bool on) override { m_profile = on; }
  std::vector<StepTime> step_times() const override { return m_times; }
  std::string describe() const override;

 private:
  CpuInferencePlan(const dnnl::engine& engine, const Shape& input, const Shape& output,
                   bool winograd);
  class Builder;  // inference_plan.cpp
  float* ptr(const PlanView& v, const float* in, float* out);

  dnnl::engine m_engine;
  dnnl::stream m_stream;
  Shape m_input, m_output;
  int m_block = 8;
  bool m_winograd = false;  // build() may use WinogradConv
  std::vector<PlanStep> m_steps;
  std::vector<PlanWeights> m_weights;
  std::vector<int64_t> m_buf_floats;             // sizes, set while building
  std::vector<std::shared_ptr<float>> m_bufs;    // allocated on the first run
  size_t m_scratchpad_bytes = 0;
  std::shared_ptr<void> m_scratchpad;
  std::vector<float> m_wino_scratch;  // shared by every WinogradConv step, sized on first use
  std::map<std::string, std::vector<float>> m_norm_params;  // "<prefix>.weight" -> values
  bool m_weights_set = false;
  bool m_profile = false;
  std::vector<StepTime> m_times;
};

}  // namespace useg::cpu
