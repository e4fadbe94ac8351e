// The convolution cuDNN is asked to compute, as plain integers, and the key its algorithm choice
// is cached under. Host code only (no cuDNN types): CI tests the role mapping, the descriptors'
// dims/strides and the key without a device (tests/cuda/test_cuda_host.cpp).
//
// Every backend op is one of cuDNN's three convolution routines on one ConvProblem:
//   op                        routine          x_c (input)   w_c [K, C, k]   y_c (output)
//   conv_forward              Forward          x             w [Co, Ci]      y
//   conv_backward_data        BackwardData     dx            w               dy
//   conv_backward_weights     BackwardFilter   x             dw              dy
//   deconv_forward            BackwardData     y             w [Ci, Co]      x
//   deconv_backward_data      Forward          dy            w               dx
//   deconv_backward_weights   BackwardFilter   dy            dw              x
// A transposed convolution is the data-gradient of the convolution that maps its output back to
// its input, with the PyTorch weight [Ci, Co, k] read as cuDNN's filter [K = Ci, C = Co, k].
#pragma once

#include <array>
#include <cstddef>
#include <string>

#include "cuda/host/precision.h"
#include "useg/backend.h"

namespace useg::gpu {

enum class ConvRoutine : int { Forward = 0, BackwardData = 1, BackwardFilter = 2 };
const char* routine_name(ConvRoutine r);

struct ConvProblem {
  std::array<int, 5> x{};  // cuDNN's input  [N, C, D, H, W]
  std::array<int, 5> w{};  // cuDNN's filter [K, C, kD, kH, kW]
  std::array<int, 5> y{};  // cuDNN's output [N, K, oD, oH, oW]
  std::array<int, 3> pad{};
  std::array<int, 3> stride{{1, 1, 1}};
  std::array<int, 3> dilation{{1, 1, 1}};
  bool operator==(const ConvProblem& o) const;
};

// `op` names the backend op in errors. x, w, y are the op's forward-role shapes (as check_conv):
// conv: x [N,Ci,...], w [Co,Ci,k], y [N,Co,...]; transposed: x [N,Ci,...], w [Ci,Co,k],
// y [N,Co,...]. Throws useg::Error when a tensor exceeds cuDNN's 32-bit element count.
ConvProblem conv_problem(const char* op, const Shape& x, const Shape& w, const Shape& y,
                         const ConvGeom& g);
ConvProblem deconv_problem(const char* op, const Shape& x, const Shape& w, const Shape& y,
                           const ConvGeom& g);

// The table above as data. The backend ops take two inputs and one output in their signature's
// order: forward (x, w) -> y, backward_data (dy, w) -> dx, backward_weights (x, dy) -> dw. The
// routine reads a = (swap_inputs ? in1 : in0) and b = the other one (see CudnnConv::run).
enum class ConvPass : int { Forward = 0, BackwardData = 1, BackwardWeights = 2 };
struct ConvCall {
  ConvRoutine routine;
  ConvProblem problem;
  bool swap_inputs;
};
ConvCall conv_call(const char* op, ConvPass pass, bool transposed, const Shape& x, const Shape& w,
                   const Shape& y, const ConvGeom& g);

// Memory layout of the tensors cuDNN reads and writes. The backend's tensors are NCDHW float32;
// the fp16/bf16 convolutions hand cuDNN NDHWC copies (the casts transpose while converting,
// src/ops/channels_last/kernels.cu) because its fastest half-precision tensor-core kernels are
// channels-last. Filters follow: [K, C, k] (CUDNN_TENSOR_NCHW) or [K, k, C] (CUDNN_TENSOR_NHWC).
enum class TensorLayout : int { Ncdhw = 0, Ndhwc = 1 };
const char* layout_name(TensorLayout l);
// The layout a precision's convolutions use: NDHWC for fp16/bf16, NCDHW for fp32/tf32.
inline TensorLayout conv_layout(Precision p) {
  return is_half(p) ? TensorLayout::Ndhwc : TensorLayout::Ncdhw;
}

// Strides of a contiguous NCDHW tensor (what cudnnSetTensorNdDescriptor receives).
std::array<int, 5> packed_strides(const std::array<int, 5>& dims);
// Strides, in the order of dims [N, C, D, H, W], of a contiguous tensor in layout l:
// NCDHW = packed_strides; NDHWC = [D*H*W*C, 1, H*W*C, W*C, C].
std::array<int, 5> layout_strides(const std::array<int, 5>& dims, TensorLayout l);

// What cuDNN's descriptors receive for a problem. A 2-D problem (D = kD = oD = 1, no depth
// padding: every convolution of a 2D model) goes as 4-D tensors [N, C, H, W], a 4-D filter
// [K, C, kH, kW] and a 2-D convolution, the form PyTorch's Conv2d gives cuDNN: cuDNN lists
// its algorithms' support per spatial rank (Winograd only for 2-D convolutions), so a 5-D
// description of one slice may keep a 2-D network on 3-D kernels. Everything else goes as 5-D,
// and every problem when `allow_2d` is false (USEG_CUDNN_5D=1: cudnn_allow_2d). Entries
// [0, rank) of x, y, their strides (layout l, as layout_strides with D dropped) and w are used,
// and entries [0, rank - 2) of pad, stride, dilation.
struct CudnnDims {
  int rank = 5;
  std::array<int, 5> x{}, x_strides{}, y{}, y_strides{}, w{};
  std::array<int, 3> pad{}, stride{}, dilation{};
};
bool is_2d(const ConvProblem& p);
CudnnDims cudnn_dims(const ConvProblem& p, TensorLayout l, bool allow_2d);
// False when the environment has USEG_CUDNN_5D=1 (read once): every problem as 5-D, to compare
// the two forms on a GPU (scripts/gpu-bench-cases.txt has such cases).
bool cudnn_allow_2d();

// The layout is part of the key (always conv_layout(precision) today): plans of two layouts hold
// different descriptors and must never be shared.
struct ConvKey {
  ConvProblem problem;
  ConvRoutine routine = ConvRoutine::Forward;
  Precision precision = Precision::Tf32;
  TensorLayout layout = TensorLayout::Ncdhw;
  bool operator==(const ConvKey& o) const;
};
struct ConvKeyHash {
  size_t operator()(const ConvKey& k) const;
};
// "backward_data x [1, 3, 1, 7, 5] w [4, 3, 1, 3, 3] y [1, 4, 1, 7, 5] pad [0, 1, 1]
//  stride [1, 1, 1] tf32 ncdhw": names the failing call in cuDNN errors (dims in NCDHW order
//  whatever the layout, as cuDNN's descriptors take them).
std::string to_string(const ConvKey& k);

}  // namespace useg::gpu
