// Classifiers as graphs (the class scores are the output [N, num_classes, 1, 1, 1]):
//  - "encoder_classifier": the U-Net's encoder stages (names encoder.S..., as the U-Net), global
//    average pooling, dropout (model.dropout, also after every block) and a dense layer
//    "classifier" to num_classes;
//  - "layers": the config's list in order, layer i's modules named layers.i.conv / .norm /
//    .dense (scripts/torch_classifier.py builds the same module).
#include "nn/builders.h"
#include "nn/graph_builder.h"
#include "useg/error.h"

namespace useg::nn {

namespace {

Graph build_encoder_classifier(const ModelConfig& c) {
  GraphBuilder b(c.dims, c.in_channels);
  if (!c.input_size.empty()) {  // the size its images are resized to
    for (int a = 0; a < c.dims; ++a) b.g.input_size[3 - c.dims + a] = c.input_size[a];
    if (c.dims == 2) b.g.input_size[0] = 1;
  }
  std::vector<int> skips;
  int h = unet_encoder(b, c, skips);
  b.group = "head";
  b.module = {1, 0};
  h = b.simple(OpKind::GlobalAvgPool, "global_pool", {h});
  if (c.dropout > 0) h = b.dropout("head.dropout", h, c.dropout);
  b.g.outputs.push_back(b.dense("classifier", h, c.num_classes));
  return b.finish();
}

// The spatial size after a window of `k` moved by `s` with padding `p` (PyTorch's floor).
int64_t out_size(int64_t in, int k, int s, int p) { return (in + 2 * p - k) / s + 1; }

Graph build_layers(const ModelConfig& c) {
  USEG_CHECK(static_cast<int>(c.input_size.size()) == c.dims,
             "model.input_size needs " << c.dims << " entries for a " << c.dims << "D model");
  GraphBuilder b(c.dims, c.in_channels);
  std::array<int64_t, 3> size{1, 1, 1};  // the spatial size reaching the next layer
  for (int a = 0; a < c.dims; ++a) size[3 - c.dims + a] = c.input_size[a];
  b.g.input_size = size;
  // A 2D network's windows span one depth slice.
  auto spatial = [&](int k) { return std::array<int, 3>{c.dims == 3 ? k : 1, k, k}; };
  int h = 0;
  for (size_t i = 0; i < c.layers.size(); ++i) {
    const LayerConfig& l = c.layers[i];
    const std::string p = "layers." + std::to_string(i);
    const bool last = i + 1 == c.layers.size();
    b.group = l.type + std::to_string(i);
    b.module = {0, static_cast<int>(i)};
    if (l.type == "conv") {
      const std::array<int, 3> k = spatial(l.kernel), s = spatial(l.stride);
      h = b.conv(p + ".conv", h, l.filters, k, s);
      for (int a = 0; a < 3; ++a) size[a] = out_size(size[a], k[a], s[a], k[a] / 2);
      h = b.norm(p + ".norm", h, l.norm, c.norm_eps, c.bn_momentum);
      h = b.activation(p, h, l.activation, c.negative_slope, 0.f);
    } else if (l.type == "max_pool") {
      const std::array<int, 3> k = spatial(l.size);
      for (int a = 0; a < 3; ++a) {
        USEG_CHECK(size[a] >= k[a], "model.layers[" << i << "]: max_pool size " << l.size
                                                    << " is larger than the " << size[a]
                                                    << " voxels that reach it");
        size[a] = out_size(size[a], k[a], k[a], 0);
      }
      h = b.max_pool(p + ".pool", h, k);
    } else if (l.type == "global_avg_pool" || l.type == "global_max_pool") {
      h = b.simple(l.type == "global_avg_pool" ? OpKind::GlobalAvgPool : OpKind::GlobalMaxPool,
                   p + ".pool", {h});
      size = {1, 1, 1};
    } else if (l.type == "flatten") {
      h = b.simple(OpKind::Flatten, p + ".flatten", {h},
                   b.channels(h) * size[0] * size[1] * size[2]);
      size = {1, 1, 1};
    } else if (l.type == "dense") {
      h = b.dense(p + ".dense", h, last && l.units == 0 ? c.num_classes : l.units);
      h = b.activation(p, h, l.activation, c.negative_slope, 0.f);
    } else if (l.type == "dropout") {
      h = b.dropout(p + ".dropout", h, l.p);
    } else {
      USEG_THROW("model.layers[" << i << "]: unknown layer type '" << l.type << "'");
    }
  }
  b.g.outputs.push_back(h);
  return b.finish();
}

}  // namespace

Graph build_classifier_graph(const ModelConfig& c) {
  USEG_CHECK(c.dims == 2 || c.dims == 3, "model.dims must be 2 or 3, got " << c.dims);
  if (c.architecture == "encoder_classifier") return build_encoder_classifier(c);
  USEG_CHECK(c.architecture == "layers",
             "model.architecture '" << c.architecture << "' is not a classifier");
  return build_layers(c);
}

}  // namespace useg::nn
