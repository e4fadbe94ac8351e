// The node-making helpers the graph builders share (unet_graph.cpp, classifier_graph.cpp): each
// appends one node (or a small chain) with its parameters named as the PyTorch reference module
// names them, and records where the node sits in that module's tree so that the parameters can
// be listed in state_dict order at the end.
#pragma once

#include <algorithm>
#include <array>
#include <string>
#include <utility>
#include <vector>

#include "nn/graph.h"
#include "useg/config.h"

namespace useg::nn {

class GraphBuilder {
 public:
  GraphBuilder(int dims, int in_channels) {
    g.dims = dims;
    g.in_channels = in_channels;
    Node input;
    input.name = "input";
    input.channels = in_channels;
    push(input);
  }

  std::string group;                // the `useg info` row the next nodes belong to
  std::pair<int, int> module{0, 0};  // (section, index) in the module tree, for state order

  int64_t channels(int id) const { return g.nodes[id].channels; }

  // Convolution with bias, zero padding kernel / 2.
  int conv(const std::string& name, int in, int64_t cout, std::array<int, 3> k,
           std::array<int, 3> stride = {1, 1, 1}, bool aux = false) {
    Node n = node(OpKind::Conv, name, {in}, cout);
    n.aux = aux;
    n.conv.kernel = k;
    n.conv.stride = stride;
    for (int a = 0; a < 3; ++a) n.conv.pad[a] = k[a] / 2;
    n.params = weight_and_bias(name, {cout, channels(in)}, k);
    return push(std::move(n));
  }

  // Transposed convolution, kernel = stride: every input voxel becomes a block of k voxels.
  int up(const std::string& name, int in, int64_t cout, std::array<int, 3> k) {
    Node n = node(OpKind::ConvTranspose, name, {in}, cout);
    n.conv.kernel = n.conv.stride = k;
    n.params = weight_and_bias(name, {channels(in), cout}, k);
    n.params.back() = param(name + ".bias", {cout}, Shape{cout});
    return push(std::move(n));
  }

  // Fully connected on [N, C, 1, 1, 1]; PyTorch's Linear weight [out, in].
  int dense(const std::string& name, int in, int64_t units) {
    Node n = node(OpKind::Dense, name, {in}, units);
    const int64_t cin = channels(in);
    n.params = {param(name + ".weight", {units, cin}, Shape{units, cin, 1, 1, 1}),
                param(name + ".bias", {units}, Shape{units})};
    return push(std::move(n));
  }

  // Instance or batch norm with scale and shift; NormKind::None adds nothing.
  int norm(const std::string& name, int in, NormKind kind, float eps, float momentum) {
    if (kind == NormKind::None) return in;
    const int64_t ch = channels(in);
    Node n = node(OpKind::Norm, name, {in}, ch);
    n.norm = kind;
    n.eps = eps;
    n.momentum = momentum;
    n.params = {param(name + ".weight", {ch}, Shape{ch}), param(name + ".bias", {ch}, Shape{ch})};
    if (kind == NormKind::Batch) {
      n.params.push_back(param(name + ".running_mean", {ch}, Shape{ch}, true));
      n.params.push_back(param(name + ".running_var", {ch}, Shape{ch}, true));
    }
    return push(std::move(n));
  }

  // The activation (Identity adds nothing), then dropout when p > 0.
  int activation(const std::string& name, int in, Activation act, float slope, float p) {
    int h = in;
    if (act != Activation::Identity) {
      h = simple(OpKind::Act, name + ".act", {in});
      g.nodes[h].act = act;
      g.nodes[h].slope = act == Activation::LeakyReLU ? slope : 0.f;
    }
    return p > 0 ? dropout(name + ".dropout", h, p) : h;
  }

  int dropout(const std::string& name, int in, float p) {
    int d = simple(OpKind::Dropout, name, {in});
    g.nodes[d].p = p;
    return d;
  }

  int max_pool(const std::string& name, int in, std::array<int, 3> size) {
    int p = simple(OpKind::MaxPool, name, {in});
    g.nodes[p].pool.kernel = g.nodes[p].pool.stride = size;
    return p;
  }

  // Average pooling, window = stride = size (PyTorch's AvgPoolNd(size, size)).
  int avg_pool(const std::string& name, int in, std::array<int, 3> size) {
    int p = simple(OpKind::AvgPool, name, {in});
    g.nodes[p].pool.kernel = g.nodes[p].pool.stride = size;
    return p;
  }

  // A node with no parameters whose output has the first input's channels (or `ch`).
  int simple(OpKind kind, const std::string& name, std::vector<int> inputs, int64_t ch = -1) {
    Node n = node(kind, name, inputs, ch >= 0 ? ch : channels(inputs.at(0)));
    return push(std::move(n));
  }

  // The graph, parameters listed in module order (stable: node order within one module).
  Graph finish() {
    for (size_t id = 0; id < g.nodes.size(); ++id)
      if (!g.nodes[id].params.empty()) g.state_order.push_back(static_cast<int>(id));
    std::stable_sort(g.state_order.begin(), g.state_order.end(),
                     [&](int a, int b) { return m_module[a] < m_module[b]; });
    return std::move(g);
  }

  Graph g;

 private:
  std::vector<std::pair<int, int>> m_module;  // per node

  static ParamSpec param(const std::string& name, std::vector<int64_t> torch_shape,
                         const Shape& shape, bool buffer = false) {
    return ParamSpec{name, shape, std::move(torch_shape), buffer};
  }
  // A conv-style weight [a, b, k] (PyTorch drops the depth axis in 2D) and a bias [a].
  std::vector<ParamSpec> weight_and_bias(const std::string& name, std::array<int64_t, 2> ab,
                                         std::array<int, 3> k) const {
    std::vector<int64_t> ts = {ab[0], ab[1]};
    if (g.dims == 3) ts.push_back(k[0]);
    ts.insert(ts.end(), {k[1], k[2]});
    return {param(name + ".weight", ts, Shape{ab[0], ab[1], k[0], k[1], k[2]}),
            param(name + ".bias", {ab[0]}, Shape{ab[0]})};
  }
  Node node(OpKind kind, const std::string& name, std::vector<int> inputs, int64_t ch) const {
    Node n;
    n.kind = kind;
    n.name = name;
    n.group = group;
    n.inputs = std::move(inputs);
    n.channels = ch;
    return n;
  }
  int push(Node n) {
    m_module.push_back(module);
    return g.add(std::move(n));
  }
};

// convs_per_stage x [conv -> norm -> activation (-> dropout)] of a U-Net stage; with residual,
// the last block adds the stage input (through a 1x1 conv when the channel count changes)
// before its activation. Shared by the U-Net and the encoder classifier.
inline int unet_stage(GraphBuilder& b, const ModelConfig& c, const std::string& prefix, int in,
                      int64_t cout, std::array<int, 3> k) {
  int h = in;
  for (int j = 0; j < c.convs_per_stage; ++j) {
    const std::string blk = prefix + ".blocks." + std::to_string(j);
    h = b.norm(blk + ".norm", b.conv(blk + ".conv", h, cout, k), c.norm, c.norm_eps,
               c.bn_momentum);
    if (c.residual && j + 1 == c.convs_per_stage) {
      int skip = b.channels(in) == cout ? in : b.conv(prefix + ".skip", in, cout, {1, 1, 1});
      h = b.simple(OpKind::Add, blk + ".residual", {h, skip}, cout);
    }
    h = b.activation(blk, h, c.activation, c.negative_slope, c.dropout);
  }
  return h;
}

// The U-Net's encoder: stages joined by max pooling. Returns the bottleneck's output and, in
// `skips`, each level's stage output (the decoder's skips).
inline int unet_encoder(GraphBuilder& b, const ModelConfig& c, std::vector<int>& skips) {
  int h = 0;
  for (int s = 0; s <= c.depth; ++s) {
    b.group = s == c.depth ? "bottleneck" : "enc" + std::to_string(s);
    b.module = {0, s};
    h = unet_stage(b, c, "encoder." + std::to_string(s), h, c.filters(s), c.kernel(s));
    if (s == c.depth) break;
    skips.push_back(h);
    h = b.max_pool("pool." + std::to_string(s), h, c.pool_size(s));
  }
  return h;
}

}  // namespace useg::nn
