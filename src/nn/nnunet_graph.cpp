// Architecture "nnunet_plain": nnU-Net v2's PlainConvUNet (dynamic_network_architectures 0.4,
// architectures/unet.py) as a graph, for models that `useg import-nnunet` brings over. Encoder
// stage s: n_conv_per_stage[s] x [conv -> instance norm -> LeakyReLU], the first conv with the
// stride pool_sizes[s-1] (strided-conv downsampling, no pooling); decoder level s: a transposed
// conv (kernel = stride) from stage s+1, concat [upsampled, skip], n_conv_per_stage_decoder[s]
// blocks; a 1x1 conv head at full resolution. Parameters carry nnU-Net's state_dict names
// (without the duplicate `all_modules` / `decoder.encoder` entries; the head is the last of
// `decoder.seg_layers`), so scripts/nnunet_to_safetensors.py only filters the checkpoint.
#include "nn/builders.h"
#include "nn/graph_builder.h"
#include "useg/error.h"

namespace useg::nn {

namespace {
// [conv -> norm -> activation] x n, the first conv with `stride`: StackedConvBlocks.
int stacked_convs(GraphBuilder& b, const ModelConfig& c, const std::string& prefix, int in,
                  int n, int64_t cout, std::array<int, 3> k, std::array<int, 3> stride) {
  int h = in;
  for (int j = 0; j < n; ++j) {
    const std::string blk = prefix + ".convs." + std::to_string(j);
    h = b.conv(blk + ".conv", h, cout, k, j == 0 ? stride : std::array<int, 3>{1, 1, 1});
    h = b.norm(blk + ".norm", h, c.norm, c.norm_eps, c.bn_momentum);
    h = b.activation(blk, h, c.activation, c.negative_slope, 0.f);
  }
  return h;
}
}  // namespace

Graph build_nnunet_plain_graph(const ModelConfig& c) {
  USEG_CHECK(c.dims == 2 || c.dims == 3, "model.dims must be 2 or 3, got " << c.dims);
  USEG_CHECK(c.depth >= 1, "architecture nnunet_plain needs depth >= 1 (n_stages >= 2)");
  // state_dict order of PlainConvUNet: encoder stages, then the decoder's stages, transpconvs
  // and seg_layers.
  enum { kEncoder, kDecoderStages, kTransp, kSeg };
  GraphBuilder b(c.dims, c.in_channels);
  std::vector<int> skips;
  int h = 0;
  for (int s = 0; s <= c.depth; ++s) {
    b.group = s == c.depth ? "bottleneck" : "enc" + std::to_string(s);
    b.module = {kEncoder, s};
    const std::array<int, 3> stride = s == 0 ? std::array<int, 3>{1, 1, 1} : c.pool_size(s - 1);
    h = stacked_convs(b, c, "encoder.stages." + std::to_string(s) + ".0", h, c.encoder_convs(s),
                      c.filters(s), c.kernel(s), stride);
    skips.push_back(h);
  }
  // nnU-Net numbers the decoder from the bottom: its index d works on level depth-1-d.
  for (int d = 0; d < c.depth; ++d) {
    const int level = c.depth - 1 - d;
    b.group = "dec" + std::to_string(level);
    b.module = {kTransp, d};
    int u = b.up("decoder.transpconvs." + std::to_string(d), h, c.filters(level),
                 c.pool_size(level));
    int cat = b.simple(OpKind::Concat, "decoder.concat." + std::to_string(d), {u, skips[level]},
                       2 * int64_t(c.filters(level)));
    b.module = {kDecoderStages, d};
    h = stacked_convs(b, c, "decoder.stages." + std::to_string(d), cat, c.decoder_convs(level),
                      c.filters(level), c.kernel(level), {1, 1, 1});
  }
  b.group = "head";
  b.module = {kSeg, 0};
  b.g.outputs.push_back(
      b.conv("decoder.seg_layers." + std::to_string(c.depth - 1), h, c.num_classes, {1, 1, 1}));
  return b.finish();
}

}  // namespace useg::nn
