// The U-Net of the `model` config section as a graph: encoder stages joined by max pooling,
// decoder stages fed by a transposed conv and the skip of their level, a 1x1 head and optional
// deep-supervision heads. Node names and parameter order are scripts/torch_unet.py's
// state_dict, so PyTorch weights load as they are.
#include "nn/unet_graph.h"

#include <algorithm>

#include "useg/error.h"

namespace useg::nn {

namespace {

ParamSpec param(const std::string& name, std::vector<int64_t> torch_shape, const Shape& shape,
                bool buffer = false) {
  return ParamSpec{name, shape, std::move(torch_shape), buffer};
}

// Appends the nodes of one U-Net and remembers what the builder needs across calls.
class UNetBuilder {
 public:
  explicit UNetBuilder(const ModelConfig& c) : c(c) {
    g.dims = c.dims;
    g.in_channels = c.in_channels;
  }

  Graph build();

 private:
  const ModelConfig& c;
  Graph g;
  std::string group;  // the `useg info` row the next nodes belong to
  // Where the next nodes sit in torch_unet.py's module tree: (section, stage), sections in
  // registration order: encoder, decoder, head, ds_heads. Sorting by it gives state_dict order.
  std::pair<int, int> module{0, 0};
  std::vector<std::pair<int, int>> m_module;  // per node

  int64_t channels(int id) const { return g.nodes[id].channels; }
  int push(Node n) {
    m_module.push_back(module);
    return g.add(std::move(n));
  }

  int conv(const std::string& name, int in, int64_t cout, std::array<int, 3> k, bool aux = false) {
    Node n;
    n.kind = OpKind::Conv;
    n.name = name;
    n.group = group;
    n.inputs = {in};
    n.channels = cout;
    n.aux = aux;
    n.conv.kernel = k;
    for (int a = 0; a < 3; ++a) n.conv.pad[a] = k[a] / 2;
    const int64_t cin = channels(in);
    std::vector<int64_t> ts = {cout, cin};
    if (c.dims == 3) ts.push_back(k[0]);
    ts.insert(ts.end(), {k[1], k[2]});
    n.params = {param(name + ".weight", ts, Shape{cout, cin, k[0], k[1], k[2]}),
                param(name + ".bias", {cout}, Shape{cout})};
    return push(std::move(n));
  }

  // Kernel = stride: every input voxel becomes a block of k voxels.
  int up(const std::string& name, int in, int64_t cout, std::array<int, 3> k) {
    Node n;
    n.kind = OpKind::ConvTranspose;
    n.name = name;
    n.group = group;
    n.inputs = {in};
    n.channels = cout;
    n.conv.kernel = n.conv.stride = k;
    const int64_t cin = channels(in);
    std::vector<int64_t> ts = {cin, cout};
    if (c.dims == 3) ts.push_back(k[0]);
    ts.insert(ts.end(), {k[1], k[2]});
    n.params = {param(name + ".weight", ts, Shape{cin, cout, k[0], k[1], k[2]}),
                param(name + ".bias", {cout}, Shape{cout})};
    return push(std::move(n));
  }

  int simple(OpKind kind, const std::string& name, std::vector<int> inputs, int64_t ch) {
    Node n;
    n.kind = kind;
    n.name = name;
    n.group = group;
    n.inputs = std::move(inputs);
    n.channels = ch;
    return push(std::move(n));
  }

  int norm(const std::string& name, int in) {
    if (c.norm == NormKind::None) return in;
    const int64_t ch = channels(in);
    Node n;
    n.kind = OpKind::Norm;
    n.name = name;
    n.group = group;
    n.inputs = {in};
    n.channels = ch;
    n.norm = c.norm;
    n.eps = c.norm_eps;
    n.momentum = c.bn_momentum;
    n.params = {param(name + ".weight", {ch}, Shape{ch}), param(name + ".bias", {ch}, Shape{ch})};
    if (c.norm == NormKind::Batch) {
      n.params.push_back(param(name + ".running_mean", {ch}, Shape{ch}, true));
      n.params.push_back(param(name + ".running_var", {ch}, Shape{ch}, true));
    }
    return push(std::move(n));
  }

  int activation(const std::string& name, int in) {
    int id = simple(OpKind::Act, name + ".act", {in}, channels(in));
    g.nodes[id].act = c.activation;
    g.nodes[id].slope = c.activation == Activation::LeakyReLU ? c.negative_slope : 0.f;
    if (c.dropout <= 0) return id;
    int d = simple(OpKind::Dropout, name + ".dropout", {id}, channels(id));
    g.nodes[d].p = c.dropout;
    return d;
  }

  // convs_per_stage x [conv -> norm -> activation]; with residual, the last block adds the
  // stage input (through a 1x1 conv when the channel count changes) before its activation.
  int stage(const std::string& prefix, int in, int64_t cout, std::array<int, 3> k) {
    int h = in;
    for (int j = 0; j < c.convs_per_stage; ++j) {
      const std::string b = prefix + ".blocks." + std::to_string(j);
      h = norm(b + ".norm", conv(b + ".conv", h, cout, k));
      if (c.residual && j + 1 == c.convs_per_stage) {
        int skip = channels(in) == cout ? in : conv(prefix + ".skip", in, cout, {1, 1, 1});
        h = simple(OpKind::Add, b + ".residual", {h, skip}, cout);
      }
      h = activation(b, h);
    }
    return h;
  }
};

Graph UNetBuilder::build() {
  USEG_CHECK(c.dims == 2 || c.dims == 3, "model.dims must be 2 or 3, got " << c.dims);
  USEG_CHECK(c.depth >= 0, "model.depth must be >= 0");
  USEG_CHECK(c.convs_per_stage >= 1, "convs_per_stage must be at least 1");
  Node input;
  input.name = "input";
  input.channels = c.in_channels;
  int h = push(input);
  std::vector<int> skips;
  for (int s = 0; s <= c.depth; ++s) {
    group = s == c.depth ? "bottleneck" : "enc" + std::to_string(s);
    module = {0, s};
    h = stage("encoder." + std::to_string(s), h, c.filters(s), c.kernel(s));
    if (s == c.depth) break;
    skips.push_back(h);
    h = simple(OpKind::MaxPool, "pool." + std::to_string(s), {h}, channels(h));
    g.nodes[h].pool.kernel = g.nodes[h].pool.stride = c.pool_size(s);
  }
  std::vector<int> level(std::max(c.depth, 1), h);
  for (int s = c.depth - 1; s >= 0; --s) {
    group = "dec" + std::to_string(s);
    module = {1, s};
    const std::string p = "decoder." + std::to_string(s);
    int u = up(p + ".up", h, c.filters(s), c.pool_size(s));
    int cat = simple(OpKind::Concat, p + ".concat", {u, skips[s]}, 2 * int64_t(c.filters(s)));
    h = level[s] = stage(p + ".blocks", cat, c.filters(s), c.kernel(s));
  }
  group = "head";
  module = {2, 0};
  g.outputs.push_back(conv("head", level[0], c.num_classes, {1, 1, 1}));
  if (c.deep_supervision)
    for (int k = 0; k + 1 < c.depth; ++k) {
      group = "dec" + std::to_string(k + 1);
      module = {3, k};
      g.outputs.push_back(
          conv("ds_heads." + std::to_string(k), level[k + 1], c.num_classes, {1, 1, 1}, true));
    }
  for (size_t id = 0; id < g.nodes.size(); ++id)
    if (!g.nodes[id].params.empty()) g.state_order.push_back(static_cast<int>(id));
  std::stable_sort(g.state_order.begin(), g.state_order.end(),
                   [&](int a, int b) { return m_module[a] < m_module[b]; });
  return std::move(g);
}

}  // namespace

Graph build_unet_graph(const ModelConfig& config) { return UNetBuilder(config).build(); }

}  // namespace useg::nn
