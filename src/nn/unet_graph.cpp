// The U-Net of the `model` config section as a graph: encoder stages joined by max pooling,
// decoder stages fed by a transposed conv and the skip of their level, a 1x1 head and optional
// deep-supervision heads. Node names and parameter order are scripts/torch_unet.py's
// state_dict, so PyTorch weights load as they are.
#include "nn/builders.h"
#include "nn/graph_builder.h"
#include "useg/error.h"

namespace useg::nn {

Graph build_unet_graph(const ModelConfig& c) {
  USEG_CHECK(c.dims == 2 || c.dims == 3, "model.dims must be 2 or 3, got " << c.dims);
  USEG_CHECK(c.depth >= 0, "model.depth must be >= 0");
  USEG_CHECK(c.convs_per_stage >= 1, "convs_per_stage must be at least 1");
  // Sections of torch_unet.py's module tree, in registration order.
  enum { kEncoder, kDecoder, kHead, kDsHeads };
  GraphBuilder b(c.dims, c.in_channels);
  std::vector<int> skips;
  int h = unet_encoder(b, c, skips);
  std::vector<int> level(std::max(c.depth, 1), h);
  for (int s = c.depth - 1; s >= 0; --s) {
    b.group = "dec" + std::to_string(s);
    b.module = {kDecoder, s};
    const std::string p = "decoder." + std::to_string(s);
    int u = b.up(p + ".up", h, c.filters(s), c.pool_size(s));
    int cat = b.simple(OpKind::Concat, p + ".concat", {u, skips[s]}, 2 * int64_t(c.filters(s)));
    h = level[s] = unet_stage(b, c, p + ".blocks", cat, c.filters(s), c.kernel(s));
  }
  b.group = "head";
  b.module = {kHead, 0};
  b.g.outputs.push_back(b.conv("head", level[0], c.num_classes, {1, 1, 1}));
  if (c.deep_supervision)
    for (int k = 0; k + 1 < c.depth; ++k) {
      b.group = "dec" + std::to_string(k + 1);
      b.module = {kDsHeads, k};
      b.g.outputs.push_back(b.conv("ds_heads." + std::to_string(k), level[k + 1],
                                   c.num_classes, {1, 1, 1}, {1, 1, 1}, true));
    }
  return b.finish();
}

Graph build_graph(const ModelConfig& c) {
  if (c.classifier()) return build_classifier_graph(c);
  if (c.architecture == "nnunet_plain") return build_nnunet_plain_graph(c);
  if (c.architecture == "nnunet_resenc") return build_nnunet_resenc_graph(c);
  return build_unet_graph(c);
}

}  // namespace useg::nn
