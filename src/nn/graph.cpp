// Graph bookkeeping: adding nodes, parameter order, output shapes, the size multiple, which nodes
// a forward needs, and the FLOPs of a node.
#include "nn/graph.h"

#include <algorithm>

#include "useg/error.h"

namespace useg::nn {

const char* op_kind_name(OpKind k) {
  switch (k) {
    case OpKind::Input: return "input";
    case OpKind::Conv: return "conv";
    case OpKind::ConvTranspose: return "conv_transpose";
    case OpKind::Norm: return "norm";
    case OpKind::Act: return "activation";
    case OpKind::MaxPool: return "max_pool";
    case OpKind::AvgPool: return "avg_pool";
    case OpKind::Concat: return "concat";
    case OpKind::Add: return "add";
    case OpKind::Dropout: return "dropout";
    case OpKind::GlobalAvgPool: return "global_avg_pool";
    case OpKind::GlobalMaxPool: return "global_max_pool";
    case OpKind::Flatten: return "flatten";
    case OpKind::Dense: return "dense";
  }
  return "?";
}

int Graph::add(Node n) {
  const int id = static_cast<int>(nodes.size());
  USEG_CHECK((n.kind == OpKind::Input) == (id == 0),
             "graph node " << n.name << ": the input must be node 0 and only node 0");
  size_t want = n.kind == OpKind::Input ? 0
                : (n.kind == OpKind::Concat || n.kind == OpKind::Add) ? 2
                                                                       : 1;
  USEG_CHECK(n.inputs.size() == want, "graph node " << n.name << " (" << op_kind_name(n.kind)
                                                    << ") takes " << want << " input(s), got "
                                                    << n.inputs.size());
  for (int i : n.inputs)
    USEG_CHECK(i >= 0 && i < id, "graph node " << n.name << " reads node " << i
                                               << ", which does not come before it");
  USEG_CHECK(n.kind != OpKind::Norm || n.norm != NormKind::None,
             "graph node " << n.name << ": a norm node needs instance or batch norm");
  nodes.push_back(std::move(n));
  return id;
}

std::vector<int> Graph::state_nodes() const {
  if (!state_order.empty()) return state_order;
  std::vector<int> all(nodes.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
  return all;
}

std::vector<const ParamSpec*> Graph::params() const {
  std::vector<const ParamSpec*> v;
  for (int id : state_nodes())
    for (const ParamSpec& p : nodes[id].params)
      if (!p.buffer) v.push_back(&p);
  return v;
}

std::vector<const ParamSpec*> Graph::buffers() const {
  std::vector<const ParamSpec*> v;
  for (int id : state_nodes())
    for (const ParamSpec& p : nodes[id].params)
      if (p.buffer) v.push_back(&p);
  return v;
}

std::vector<Shape> infer_shapes(const Graph& g, const Shape& input) {
  USEG_CHECK(input.rank() == 5 && input.c() == g.in_channels,
             "model input must be [N, " << g.in_channels << ", D, H, W], got " << input.str());
  if (g.input_size[0] > 0)
    USEG_CHECK(input[2] == g.input_size[0] && input[3] == g.input_size[1] &&
                   input[4] == g.input_size[2],
               "model input " << input.str() << ": this network takes images of exactly "
                              << g.input_size[0] << " x " << g.input_size[1] << " x "
                              << g.input_size[2] << " voxels (D x H x W, model.input_size)");
  std::vector<Shape> s(g.nodes.size());
  for (size_t id = 0; id < g.nodes.size(); ++id) {
    const Node& n = g.nodes[id];
    const Shape& x = n.inputs.empty() ? input : s[n.inputs[0]];
    switch (n.kind) {
      case OpKind::Input: s[id] = input; break;
      case OpKind::Conv: s[id] = conv_output_shape(x, n.channels, n.conv); break;
      case OpKind::ConvTranspose: s[id] = deconv_output_shape(x, n.channels, n.conv); break;
      case OpKind::MaxPool:
      case OpKind::AvgPool: s[id] = pool_output_shape(x, n.pool); break;
      case OpKind::Concat: {
        const Shape& b = s[n.inputs[1]];
        Shape y = x;
        y[1] = x[1] + b[1];
        for (int a : {0, 2, 3, 4})
          USEG_CHECK(x[a] == b[a], n.name << ": cannot concatenate " << x.str() << " and "
                                          << b.str() << " along channels");
        s[id] = y;
        break;
      }
      case OpKind::Add:
        USEG_CHECK(x == s[n.inputs[1]], n.name << ": cannot add " << x.str() << " and "
                                               << s[n.inputs[1]].str());
        s[id] = x;
        break;
      case OpKind::Norm:
      case OpKind::Act:
      case OpKind::Dropout: s[id] = x; break;
      case OpKind::GlobalAvgPool:
      case OpKind::GlobalMaxPool: s[id] = Shape{x[0], x[1], 1, 1, 1}; break;
      case OpKind::Flatten: s[id] = Shape{x[0], x[1] * x[2] * x[3] * x[4], 1, 1, 1}; break;
      case OpKind::Dense: {
        const int64_t in = n.params.at(0).shape[1];
        USEG_CHECK(x[2] * x[3] * x[4] == 1 && x[1] == in,
                   n.name << ": a dense layer with " << in << " inputs reads [N, " << in
                          << ", 1, 1, 1], got " << x.str());
        s[id] = Shape{x[0], n.channels, 1, 1, 1};
        break;
      }
    }
  }
  return s;
}

std::array<int64_t, 3> size_multiple(const Graph& g) {
  std::array<int64_t, 3> m{1, 1, 1};
  // Strided convolutions downsample too where a decoder must meet the encoder's sizes again
  // (nnunet_plain, nnunet_resenc); a classifier's strided convs floor as PyTorch's do. Per node:
  // the largest factor of its inputs times its own stride (a chain multiplies; the two paths of
  // a residual block meet at an Add with the same factor).
  const bool decoder = std::any_of(g.nodes.begin(), g.nodes.end(),
                                   [](const Node& n) { return n.kind == OpKind::ConvTranspose; });
  std::vector<std::array<int64_t, 3>> f(g.nodes.size(), {1, 1, 1});
  for (size_t id = 0; id < g.nodes.size(); ++id) {
    const Node& n = g.nodes[id];
    for (int i : n.inputs)
      for (int a = 0; a < 3; ++a) f[id][a] = std::max(f[id][a], f[i][a]);
    const bool pool = n.kind == OpKind::MaxPool || n.kind == OpKind::AvgPool;
    for (int a = 0; a < 3; ++a) {
      if (pool) f[id][a] *= n.pool.stride[a];
      if (n.kind == OpKind::Conv && decoder) f[id][a] *= n.conv.stride[a];
      m[a] = std::max(m[a], f[id][a]);
    }
  }
  return m;
}

std::vector<bool> needed_nodes(const Graph& g, bool training) {
  std::vector<bool> need(g.nodes.size(), training);
  if (training) return need;
  need[g.outputs.at(0)] = true;
  for (size_t id = g.nodes.size(); id-- > 0;)
    if (need[id])
      for (int i : g.nodes[id].inputs) need[i] = true;
  return need;
}

double node_flops(const Node& n, const Shape& in, const Shape& out) {
  const double k = double(n.conv.kernel[0]) * n.conv.kernel[1] * n.conv.kernel[2];
  switch (n.kind) {
    case OpKind::Conv: return 2.0 * in.c() * double(out.numel()) * k;
    case OpKind::Dense: return 2.0 * in.c() * double(out.numel());
    // Every input voxel meets every kernel offset once.
    case OpKind::ConvTranspose: return 2.0 * out.c() * double(in.numel()) * k;
    default: return 0;
  }
}

}  // namespace useg::nn
