// Backend: the ops the layers call. One implementation per device (cpu: oneDNN + OpenMP loops
// over src/ops; cuda: cuDNN + our kernels over the same src/ops) behind one front that checks
// the arguments. Callers never #ifdef: the device is a runtime value and make_backend() answers
// a build without CUDA with a clear error.
//
// Conventions for every op:
//  - activations are rank-5 NCDHW tensors on the backend's device, contiguous float32;
//  - outputs are preallocated by the caller with the exact shape the op documents;
//  - shapes are checked at the top of the op (USEG_CHECK), naming the op and both shapes;
//  - parameters (bias, gamma, beta, running stats) are rank-1 [C] tensors;
//  - convolution weights are rank 5: conv [Co, Ci, kD, kH, kW], transposed conv
//    [Ci, Co, kD, kH, kW] (PyTorch's orders, with kD = 1 for 2D models).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "useg/tensor.h"

namespace useg {

struct Parameter;    // useg/model.h
namespace nn {
struct Graph;        // src/nn/graph.h: the network as a list of nodes
}

// Geometry of a convolution (or transposed convolution), per spatial axis in D, H, W order.
// Output size of a convolution: (in + 2*pad - kernel) / stride + 1.
// Output size of a transposed convolution: (in - 1) * stride - 2*pad + kernel.
struct ConvGeom {
  std::array<int, 3> kernel{1, 1, 1};
  std::array<int, 3> stride{1, 1, 1};
  std::array<int, 3> pad{0, 0, 0};
};
Shape conv_output_shape(const Shape& x, int64_t out_channels, const ConvGeom& g);
Shape deconv_output_shape(const Shape& x, int64_t out_channels, const ConvGeom& g);

// Max and average pooling without padding; output size (in - kernel) / stride + 1 (floor).
struct PoolGeom {
  std::array<int, 3> kernel{1, 2, 2};
  std::array<int, 3> stride{1, 2, 2};
};
Shape pool_output_shape(const Shape& x, const PoolGeom& g);

enum class Activation { Identity, ReLU, LeakyReLU, Sigmoid, Tanh };
const char* activation_name(Activation a);

// Normalization of a conv block: instance norm (statistics per sample and channel), batch norm
// (per channel over the batch) or none.
enum class NormKind { Instance, Batch, None };
const char* norm_name(NormKind k);

// Losses on logits [N, C, D, H, W]. The target is either a label map [N, 1, D, H, W] holding
// class indices as floats (0..C-1), or — for MSE and hinge only — a dense tensor shaped like
// the logits. Returned value is the mean loss times `weight`; dlogits receives d(value)/d(logits).
//  - CrossEntropy: mean over voxels of -log softmax(logits)[target].
//  - Dice: 1 - mean over (sample, foreground class) of (2*I + smooth) / (P + T + smooth),
//          with P = sum softmax, T = sum onehot, I = sum softmax*onehot over the voxels of one
//          sample (or over the whole batch when batch_dice). Class 0 (background) is excluded.
//  - DiceCE: CrossEntropy + Dice.
//  - MSE: mean over all elements of (logits - onehot)^2.
//  - Hinge: mean over all elements of max(0, 1 - s * logits), s = 2*onehot - 1.
//  - MultiHinge: the multi-class hinge (Weston-Watkins; PyTorch's MultiMarginLoss): mean over
//          voxels of (1/C) sum over k != t of max(0, 1 - logits[t] + logits[k]); label map only.
enum class LossKind { CrossEntropy, Dice, DiceCE, MSE, Hinge, MultiHinge };
const char* loss_name(LossKind k);
struct LossSpec {
  LossKind kind = LossKind::DiceCE;
  float weight = 1.0f;
  float dice_smooth = 1e-5f;
  bool batch_dice = false;
  // Data-parallel batch Dice (train/distributed.cpp): with batch_dice, called with this rank's
  // Dice sums (I, P, T per foreground class: 3 (C - 1) doubles) to sum them over the ranks
  // before the score is taken, so that every rank scores the global batch. The Dice gradient is
  // then divided by dice_share (this rank's share of the global batch, n_r / B), which the
  // weighting of the ranks' gradients by n_r / B undoes. Unset: this batch alone.
  std::function<void(double* sums, size_t count)> reduce_dice_sums;
  double dice_share = 1.0;
};

// PyTorch semantics (torch.optim.SGD with dampening 0).
struct SgdStep {
  float lr = 0.01f;
  float momentum = 0.0f;
  bool nesterov = false;
  float weight_decay = 0.0f;
};
// PyTorch semantics: Adam adds weight_decay*p to the gradient; AdamW (decoupled) multiplies p
// by (1 - lr*weight_decay). `step` is the 1-based step count used for bias correction.
struct AdamStep {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  bool decoupled = false;
  int64_t step = 1;
};

// A whole-network inference path a backend may compile from a network's graph for one input
// shape (see Backend::compile): it keeps the backend's internal layouts from layer to layer,
// fuses what it can and reuses activation buffers, converting only at the network's edges.
// Its output must match the per-op forward (Network::forward in eval mode) within float rounding.
class InferencePlan {
 public:
  virtual ~InferencePlan() = default;
  virtual const Shape& input_shape() const = 0;
  // (Re)reads the weights: every parameter and buffer of the model, by state_dict name. Must be
  // called before the first run and again whenever the weights change.
  virtual void set_weights(const std::vector<const Parameter*>& tensors) = 0;
  // x has input_shape(); logits [N, num_classes, D, H, W] is preallocated by the caller.
  virtual void run(const Tensor& x, Tensor& logits) = 0;
  // Per-step wall time for `useg bench`: when on, run() synchronizes after every step and adds
  // its milliseconds to step_times().
  struct StepTime {
    std::string name;
    double ms = 0;
    int64_t calls = 0;
    double gflop = 0;  // analytic FLOPs of the calls (convolutions), 1e9
  };
  virtual void set_profiling(bool on) = 0;
  virtual std::vector<StepTime> step_times() const = 0;
  // One line per step: what runs there (e.g. the oneDNN implementation chosen).
  virtual std::string describe() const = 0;
};

// Receives the wall time of every op of a backend it is installed in (Backend::set_op_timer).
class OpTimer {
 public:
  virtual ~OpTimer() = default;
  // key: the op and its main shape, e.g. "conv_forward [4, 32, 1, 256, 256] k1x3x3";
  // gflop: the op's analytic FLOPs (2 per multiply-add; convolutions only), in 1e9.
  virtual void record(const std::string& key, double gflop, double ms) = 0;
};

class BackendImpl;  // src/core/backend_impl.h: what one device provides

// The ops the layers call, declared once: every op checks its arguments here (the same checks
// and messages on every device), optionally reports its time to an OpTimer, and runs the
// device's implementation (src/core/backend_impl.h: the CPU's in src/cpu, CUDA's in cuda/).
class Backend {
 public:
  // make_backend() creates backends; a device's code makes one from its BackendImpl.
  explicit Backend(std::unique_ptr<BackendImpl> impl);
  ~Backend();
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  Device device() const;
  std::string name() const;
  // Waits until every op queued so far has finished (a no-op on the CPU).
  void synchronize();

  // Times every op from now on (null = off, the default): after each op the backend
  // synchronizes and reports the op's wall time to `timer`. For `useg bench`'s per-layer
  // profile; it changes no result.
  void set_op_timer(OpTimer* timer) { m_timer = timer; }

  // The device's implementation (its own code and tests reach its internals through it).
  BackendImpl& impl() { return *m_impl; }

  // ---- convolution: x [N,Ci,D,H,W], w [Co,Ci,kD,kH,kW], bias [Co] or null, y conv_output_shape
  void conv_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                    const ConvGeom& g);
  void conv_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx,
                          const ConvGeom& g);
  // dw (and dbias when given) are overwritten, not accumulated.
  void conv_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw,
                             Tensor* dbias, const ConvGeom& g);

  // ---- convolution in training (optional fast path; the defaults call the ops above).
  // conv_forward_training is conv_forward that may also keep what conv_backward will need in the
  // returned handle. conv_backward then computes dw, dbias (when given) and dx (when given) in
  // one call from the same x, w and geometry and that handle.
  struct ConvSaved {
    // The input x in the backend's own layout, or null (nothing kept). Where it is kept,
    // backward reads nothing of the caller's x: the caller may release x and pass conv_backward
    // an undefined tensor instead (x_shape gives the shape).
    std::shared_ptr<void> input;
    Shape x_shape;
    bool holds_input() const { return input != nullptr; }
  };
  ConvSaved conv_forward_training(const Tensor& x, const Tensor& w, const Tensor* bias,
                                  Tensor& y, const ConvGeom& g);
  // x: the forward's input, or an undefined tensor where saved.holds_input().
  void conv_backward(const Tensor& x, const Tensor& dy, const Tensor& w, Tensor* dx,
                     Tensor& dw, Tensor* dbias, const ConvGeom& g,
                     const ConvSaved& saved);

  // ---- transposed convolution: w [Ci,Co,kD,kH,kW], y deconv_output_shape
  void deconv_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                      const ConvGeom& g);
  void deconv_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx,
                            const ConvGeom& g);
  void deconv_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw,
                               Tensor* dbias, const ConvGeom& g);

  // ---- max pooling. Backward routes dy to the (first) maximum of each window; dx overwritten.
  void maxpool_forward(const Tensor& x, Tensor& y, const PoolGeom& g);
  void maxpool_backward(const Tensor& x, const Tensor& dy, Tensor& dx,
                        const PoolGeom& g);
  // What a training step keeps instead of x: per output, the offset of its window's maximum
  // (the one maxpool_backward picks) in one byte, (i * kh + j) * kw + k, packed 4 to a float of
  // `offsets` (shape maxpool_offsets_shape(y.numel()); storage only); windows of at most 256
  // voxels. maxpool_backward_offsets is maxpool_backward from them: the same dx.
  static constexpr int64_t kMaxPoolOffsetWindow = 256;
  static Shape maxpool_offsets_shape(int64_t outputs) {
    return Shape{(outputs + 3) / 4, 1, 1, 1, 1};
  }
  void maxpool_offsets(const Tensor& x, Tensor& offsets, const PoolGeom& g);
  void maxpool_backward_offsets(const Tensor& offsets, const Tensor& dy, Tensor& dx,
                                const PoolGeom& g);

  // ---- average pooling: y = the mean of each window (all kernel voxels, no padding: PyTorch's
  // AvgPoolNd(kernel, stride) with ceil_mode false). Backward gives every voxel of a window
  // dy / (window volume), summed over the windows containing it (0 where none does); dx
  // overwritten.
  void avgpool_forward(const Tensor& x, Tensor& y, const PoolGeom& g);
  void avgpool_backward(const Tensor& dy, Tensor& dx, const PoolGeom& g);

  // ---- global average pooling: y [N, C, 1, 1, 1] = the mean of each channel of x
  // [N, C, D, H, W]; backward gives every position dy / (D*H*W) (dx overwritten).
  void global_avg_pool_forward(const Tensor& x, Tensor& y);
  void global_avg_pool_backward(const Tensor& dy, Tensor& dx);

  // ---- instance norm: statistics per (n, c) over D*H*W, biased variance.
  // gamma/beta [C] or null (no affine). save_mean/save_invstd [N*C] (may be null in inference).
  void instance_norm_forward(const Tensor& x, const Tensor* gamma, const Tensor* beta,
                             float eps, Tensor& y, Tensor* save_mean,
                             Tensor* save_invstd);
  // dgamma/dbeta are overwritten when given.
  void instance_norm_backward(const Tensor& x, const Tensor& dy, const Tensor* gamma,
                              const Tensor& save_mean, const Tensor& save_invstd,
                              Tensor& dx, Tensor* dgamma, Tensor* dbeta);

  // ---- batch norm: statistics per c over N*D*H*W. Training uses the batch's biased variance to
  // normalize and updates running_var with the unbiased one (PyTorch):
  // running = (1 - momentum) * running + momentum * batch_stat. save_* are [C].
  void batch_norm_forward_training(const Tensor& x, const Tensor* gamma,
                                   const Tensor* beta, float eps, float momentum,
                                   Tensor& running_mean, Tensor& running_var, Tensor& y,
                                   Tensor& save_mean, Tensor& save_invstd);
  void batch_norm_forward_inference(const Tensor& x, const Tensor* gamma,
                                    const Tensor* beta, const Tensor& running_mean,
                                    const Tensor& running_var, float eps,
                                    Tensor& y);
  void batch_norm_backward(const Tensor& x, const Tensor& dy, const Tensor* gamma,
                           const Tensor& save_mean, const Tensor& save_invstd,
                           Tensor& dx, Tensor* dgamma, Tensor* dbeta);

  // ---- activations (elementwise; y may alias x). alpha is LeakyReLU's negative slope.
  void activation_forward(Activation a, float alpha, const Tensor& x, Tensor& y);
  // Uses x (ReLU, LeakyReLU) or y (Sigmoid, Tanh); dx may alias dy.
  void activation_backward(Activation a, float alpha, const Tensor& x, const Tensor& y,
                           const Tensor& dy, Tensor& dx);
  // ReLU's and LeakyReLU's backward depends only on whether x > 0 (for alpha >= 0 the same as
  // y > 0): activation_sign_bits packs (t > 0) of t, 32 elements to a 32-bit word, into `bits`
  // (shape sign_bits_shape(t.numel()); its floats are storage only), and
  // activation_backward_bits is activation_backward of ReLU or LeakyReLU from those bits:
  // bit-identical dx from 1/32 of the memory a training step keeps from forward to backward.
  static Shape sign_bits_shape(int64_t numel) { return Shape{(numel + 31) / 32, 1, 1, 1, 1}; }
  void activation_sign_bits(const Tensor& t, Tensor& bits);
  void activation_backward_bits(Activation a, float alpha, const Tensor& bits, const Tensor& dy,
                                Tensor& dx);

  // ---- elementwise and layout helpers
  void fill(Tensor& t, float value);
  void copy(const Tensor& src, Tensor& dst);               // same shape & device
  void add(const Tensor& a, const Tensor& b, Tensor& y);   // y = a + b (may alias)
  void axpy(float alpha, const Tensor& x, Tensor& y);      // y += alpha * x
  void scale(Tensor& x, float s);                          // x *= s
  void mul(const Tensor& a, const Tensor& b, Tensor& y);   // y = a * b
  double sum_squares(const Tensor& x);                     // sum of x^2 (double acc)
  bool all_finite(const Tensor& x);
  // y [N, Ca+Cb, ...] = [a, b] along channels; split is its backward.
  void concat_channels(const Tensor& a, const Tensor& b, Tensor& y);
  void split_channels(const Tensor& y, Tensor& a, Tensor& b);
  void softmax_channels(const Tensor& x, Tensor& y);  // over C at every voxel
  // Inverted dropout: mask = (u >= p) / (1 - p) with u = uniform(seed, element index), y = x*mask.
  void dropout_forward(const Tensor& x, float p, uint64_t seed, Tensor& y,
                       Tensor& mask);

  // ---- losses: returns spec.weight * loss; writes dlogits when given (overwritten).
  double loss_forward_backward(const LossSpec& spec, const Tensor& logits,
                               const Tensor& target, Tensor* dlogits);

  // ---- optimizers (in place on param and state)
  void sgd_update(Tensor& param, const Tensor& grad, Tensor* momentum_buf,
                  const SgdStep& s);
  void adam_update(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v,
                   const AdamStep& s);

  // ---- sliding-window inference
  // For window `n` of probs [Nw, C, pd, ph, pw] placed at `offset` (z, y, x; may be negative or
  // overhang: only the part inside the volume is added):
  //   accum[0, c, z+i, y+j, x+k] += weight[i,j,k] * probs[n, c, i, j, k]
  //   weight_sum[0, 0, z+i, y+j, x+k] += weight[i,j,k]
  // weight is [1, 1, pd, ph, pw]; accum [1, C, D, H, W]; weight_sum [1, 1, D, H, W].
  void window_accumulate(const Tensor& probs, int64_t n, const Tensor& weight,
                         const std::array<int64_t, 3>& offset, Tensor& accum,
                         Tensor& weight_sum);
  // y = x reversed along the spatial axes whose bit is set in `axes` (1 = W, 2 = H, 4 = D);
  // mirroring test-time augmentation. y must not alias x.
  void flip_spatial(const Tensor& x, int axes, Tensor& y);
  // labels [N, 1, D, H, W] = index of the largest channel (first on ties), as float.
  void argmax_channels(const Tensor& x, Tensor& labels);

  // ---- whole-network inference (optional): a plan for `graph` at input shape `input`, or null
  // when this backend has none for that graph (the caller then runs the per-op forward).
  std::unique_ptr<InferencePlan> compile(const nn::Graph& graph, const Shape& input);

 private:
  // Runs f; with a timer, synchronizes after it and reports its time under key().
  template <class Key, class F>
  auto timed(Key&& key, double gflop, F&& f) -> decltype(f());

  std::unique_ptr<BackendImpl> m_impl;
  OpTimer* m_timer = nullptr;
};

struct BackendOptions {
  int threads = 0;           // CPU: OpenMP threads (0 = leave the runtime's default)
  int cuda_device = 0;       // CUDA: device ordinal
  // Arithmetic of the convolutions: "" = the device's default (cpu: fp32; cuda: tf32),
  // "fp32" strict float32, "tf32" (CUDA: TensorFloat-32 tensor-core math on float32 data),
  // "fp16" / "bf16" (CUDA: mixed precision, half operands with float accumulation; everything
  // else stays float32). The CPU backend computes in float32 and accepts only "" and "fp32".
  std::string precision;
  // How the CPU inference plan computes its 3x3 and 3x3x3 convolutions: "" / "auto" = Winograd
  // F(2,3) (src/cpu/winograd.h) where the CPU has AVX2 + FMA and the plan uses 8-channel blocks,
  // else oneDNN's direct convolution; "direct" = always oneDNN's direct convolution. Training
  // and the CUDA backend ignore it.
  std::string conv_algorithm;
};

// The values BackendOptions::conv_algorithm accepts besides "".
inline const std::vector<std::string>& conv_algorithm_choices() {
  static const std::vector<std::string> choices{"auto", "direct"};
  return choices;
}

// The values BackendOptions::precision accepts besides "" (make_backend checks, the CLI offers
// them).
inline const std::vector<std::string>& precision_choices() {
  static const std::vector<std::string> choices{"fp32", "tf32", "fp16", "bf16"};
  return choices;
}

// Creates the backend for a device. Throws useg::Error with a clear message when the device is
// unavailable ("useg was built without CUDA", "no CUDA device found").
std::unique_ptr<Backend> make_backend(Device device, const BackendOptions& opts = {});

// True when make_backend(device) would succeed; otherwise `why` (if given) says why not.
bool device_available(Device device, std::string* why = nullptr);

// The number of CUDA devices this process sees (CUDA_VISIBLE_DEVICES applied): 0 without a
// driver or a device, and in a build without CUDA.
int cuda_device_count();

}  // namespace useg
