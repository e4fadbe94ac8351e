// The network as data: a list of nodes in execution order, built once from the config
// (unet_graph.cpp) and read by every consumer — the per-op executor (training and the reference
// forward, executor.h), the CPU backend's inference plan (Backend::compile), `useg info`
// (summary.cpp) and the state_dict names of the weights (each node's ParamSpecs).
//
// A node reads the values of earlier nodes (node ids: a node's value is its output) and holds
// only a description: kind, attributes and the names and shapes of its parameters. Tensors live
// elsewhere (the Network's parameters, the executor's activations, a plan's buffers).
//
// Adding a layer type: an OpKind with its attributes here, its forward/backward case in
// node_ops.cpp (which calls the backend's ops), its shape and cost in graph.cpp, and a line in a
// graph builder. The backend's plan compiles what it recognizes and declines the rest (the
// executor then runs the graph op by op).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "useg/backend.h"
#include "useg/tensor.h"

namespace useg::nn {

enum class OpKind {
  Input,          // the network input [N, C, D, H, W]
  Conv,           // convolution with bias; geom, out channels
  ConvTranspose,  // transposed convolution with bias; geom, out channels
  Norm,           // instance or batch norm with scale and shift (never NormKind::None)
  Act,            // elementwise activation
  MaxPool,        // max pooling, no padding
  AvgPool,        // average pooling, no padding (the ResEnc U-Net's strided skips)
  Concat,         // [inputs[0], inputs[1]] along channels
  Add,            // inputs[0] + inputs[1]
  Dropout,        // inverted dropout while training, identity in inference
  GlobalAvgPool,  // [N, C, D, H, W] -> [N, C, 1, 1, 1], the mean of each channel
  GlobalMaxPool,  // [N, C, D, H, W] -> [N, C, 1, 1, 1], the maximum of each channel
  Flatten,        // [N, C, D, H, W] -> [N, C*D*H*W, 1, 1, 1] (a view: PyTorch's order)
  Dense,          // fully connected with bias on [N, C, 1, 1, 1]; PyTorch's Linear weights
};
const char* op_kind_name(OpKind k);

// A tensor of the state_dict: name, the tensor's shape inside useg and its shape in the file
// (PyTorch's: rank 4 for 2D conv weights). Buffers (running statistics) get no gradient.
struct ParamSpec {
  std::string name;
  Shape shape;
  std::vector<int64_t> torch_shape;
  bool buffer = false;
};

struct Node {
  OpKind kind = OpKind::Input;
  std::string name;          // parameter prefix ("encoder.0.blocks.1.conv") or a label
  std::string group;         // the row of `useg info` it belongs to ("enc0", "dec1", "head")
  std::vector<int> inputs;   // ids of earlier nodes
  int64_t channels = 0;      // output channels
  bool aux = false;          // feeds only an auxiliary output (deep supervision heads)

  ConvGeom conv;             // Conv, ConvTranspose
  PoolGeom pool;             // MaxPool, AvgPool
  NormKind norm = NormKind::Instance;  // Norm
  float eps = 1e-5f, momentum = 0.1f;  // Norm (momentum: batch norm's running statistics)
  Activation act = Activation::Identity;  // Act
  float slope = 0.f;         // Act: LeakyReLU's negative slope
  float p = 0.f;             // Dropout probability

  std::vector<ParamSpec> params;  // in state_dict order
};

struct Graph {
  int dims = 2;              // 2 or 3 (2D graphs have D = 1 everywhere)
  int in_channels = 1;
  // The input's spatial size [D, H, W] where the network fixes it (a flatten before a dense
  // layer), else {0, 0, 0}: any size that is a multiple of size_multiple().
  std::array<int64_t, 3> input_size{0, 0, 0};
  std::vector<Node> nodes;   // execution order; nodes[0] is the Input
  // outputs[0] is the network's output; the rest (deep supervision) are computed in training
  // only.
  std::vector<int> outputs;

  // The nodes with parameters in state_dict order (the order PyTorch registers the modules,
  // which need not be the execution order: a U-Net lists decoder level 0 first). Empty = node
  // order.
  std::vector<int> state_order;

  int add(Node n);           // appends after checking its inputs; returns its id
  const Node& out() const { return nodes[outputs.at(0)]; }
  // Every parameter, and every buffer, in state_dict order.
  std::vector<const ParamSpec*> params() const;
  std::vector<const ParamSpec*> buffers() const;
  // The nodes in state_dict order (state_order, or every node).
  std::vector<int> state_nodes() const;
};

// Per-node output shapes for an input shape; throws naming the node when a size does not fit
// (e.g. a pooling window larger than its input, a concat of mismatched sizes).
std::vector<Shape> infer_shapes(const Graph& g, const Shape& input);

// The largest downsampling factor per axis [D, H, W] along any path from the input (max and
// average pooling, and strided convs in a graph with a decoder; parallel paths — a ResEnc
// block's strided conv and its pooled skip — count once): every input size must be a multiple
// of it for the decoder's sizes to meet the encoder's.
std::array<int64_t, 3> size_multiple(const Graph& g);

// Which nodes a forward needs: all of them in training, in inference only those that
// outputs[0] depends on (no deep-supervision heads).
std::vector<bool> needed_nodes(const Graph& g, bool training);

// The analytic multiply-add count of one node, times 2 (FLOPs), for the given shapes.
double node_flops(const Node& n, const Shape& in, const Shape& out);

}  // namespace useg::nn
