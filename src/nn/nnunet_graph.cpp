// Architectures "nnunet_plain" and "nnunet_resenc": nnU-Net v2's PlainConvUNet and
// ResidualEncoderUNet (dynamic_network_architectures 0.4, architectures/unet.py) as graphs, for
// models that `useg import-nnunet` brings over.
//
// nnunet_plain: encoder
// stage s: n_conv_per_stage[s] x [conv -> instance norm -> LeakyReLU], the first conv with the
// stride pool_sizes[s-1] (strided-conv downsampling, no pooling); decoder level s: a transposed
// conv (kernel = stride) from stage s+1, concat [upsampled, skip], n_conv_per_stage_decoder[s]
// blocks; a 1x1 conv head at full resolution. Parameters carry nnU-Net's state_dict names
// (without the duplicate `all_modules` / `decoder.encoder` entries; the head is the last of
// `decoder.seg_layers`), so scripts/nnunet_to_safetensors.py only filters the checkpoint.
//
// nnunet_resenc: the encoder is ResidualEncoder (building_blocks/residual_encoders.py): a stem
// `encoder.stem.convs.0` [conv -> norm -> act] to stem_channels, then stage s is
// n_blocks_per_stage[s] BasicBlockDs (building_blocks/residual.py) `encoder.stages.{s}.blocks.{b}`:
//   conv1 [conv (stride pool_sizes[s-1] in block 0 of stage s > 0) -> norm -> act]
//   conv2 [conv -> norm], + skip, -> act
// where the skip is the identity, or `skip.{i}`: AvgPool(kernel = stride) where the block
// strides, then [1x1 conv without bias -> norm] where the channel count changes (index 1 after a
// pooling, else 0). The decoder is PlainConvUNet's (UNetDecoder, shared).
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

// state_dict order of both networks: the encoder (stem, stages), then the decoder's stages,
// transpconvs and seg_layers.
enum { kEncoder, kDecoderStages, kTransp, kSeg };

std::array<int, 3> stage_stride(const ModelConfig& c, int s) {
  return s == 0 ? std::array<int, 3>{1, 1, 1} : c.pool_size(s - 1);
}

void check_nnunet(const ModelConfig& c) {
  USEG_CHECK(c.dims == 2 || c.dims == 3, "model.dims must be 2 or 3, got " << c.dims);
  USEG_CHECK(c.depth >= 1,
             "architecture " << c.architecture << " needs depth >= 1 (n_stages >= 2)");
}

// BasicBlockD (see the top of the file); returns the block's output.
int basic_block_d(GraphBuilder& b, const ModelConfig& c, const std::string& prefix, int in,
                  int64_t cout, std::array<int, 3> k, std::array<int, 3> stride) {
  int h = b.conv(prefix + ".conv1.conv", in, cout, k, stride);
  h = b.norm(prefix + ".conv1.norm", h, c.norm, c.norm_eps, c.bn_momentum);
  h = b.activation(prefix + ".conv1", h, c.activation, c.negative_slope, 0.f);
  h = b.conv(prefix + ".conv2.conv", h, cout, k);
  h = b.norm(prefix + ".conv2.norm", h, c.norm, c.norm_eps, c.bn_momentum);
  // The skip after the main path in node order: the CPU plan's chain of conv2 then takes the
  // sum and the activation, with the skip as its residual.
  int skip = in;
  int index = 0;
  if (stride != std::array<int, 3>{1, 1, 1})
    skip = b.avg_pool(prefix + ".skip." + std::to_string(index++), skip, stride);
  if (b.channels(in) != cout) {
    const std::string sk = prefix + ".skip." + std::to_string(index);
    skip = b.conv(sk + ".conv", skip, cout, {1, 1, 1});
    skip = b.norm(sk + ".norm", skip, c.norm, c.norm_eps, c.bn_momentum);
  }
  h = b.simple(OpKind::Add, prefix + ".residual", {h, skip}, cout);
  return b.activation(prefix + ".nonlin2", h, c.activation, c.negative_slope, 0.f);
}

// UNetDecoder over the encoder's stage outputs `skips` (the last one the bottleneck): returns
// the graph with the full-resolution head as its output.
Graph nnunet_decoder(GraphBuilder& b, const ModelConfig& c, const std::vector<int>& skips) {
  int h = skips.back();
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
}  // namespace

Graph build_nnunet_plain_graph(const ModelConfig& c) {
  check_nnunet(c);
  GraphBuilder b(c.dims, c.in_channels);
  std::vector<int> skips;
  int h = 0;
  for (int s = 0; s <= c.depth; ++s) {
    b.group = s == c.depth ? "bottleneck" : "enc" + std::to_string(s);
    b.module = {kEncoder, s};
    h = stacked_convs(b, c, "encoder.stages." + std::to_string(s) + ".0", h, c.encoder_convs(s),
                      c.filters(s), c.kernel(s), stage_stride(c, s));
    skips.push_back(h);
  }
  return nnunet_decoder(b, c, skips);
}

Graph build_nnunet_resenc_graph(const ModelConfig& c) {
  check_nnunet(c);
  GraphBuilder b(c.dims, c.in_channels);
  b.group = "enc0";
  b.module = {kEncoder, -1};
  const int64_t stem = c.stem_channels > 0 ? c.stem_channels : c.filters(0);
  int h = stacked_convs(b, c, "encoder.stem", 0, 1, stem, c.kernel(0), {1, 1, 1});
  std::vector<int> skips;
  for (int s = 0; s <= c.depth; ++s) {
    b.group = s == c.depth ? "bottleneck" : "enc" + std::to_string(s);
    b.module = {kEncoder, s};
    const std::string stage = "encoder.stages." + std::to_string(s) + ".blocks.";
    for (int k = 0; k < c.encoder_blocks(s); ++k)
      h = basic_block_d(b, c, stage + std::to_string(k), h, c.filters(s), c.kernel(s),
                        k == 0 ? stage_stride(c, s) : std::array<int, 3>{1, 1, 1});
    skips.push_back(h);
  }
  return nnunet_decoder(b, c, skips);
}

}  // namespace useg::nn
