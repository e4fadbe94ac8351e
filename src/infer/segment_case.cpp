// One case of `useg segment`, the compute part: checks -> preprocess -> sliding-window
// probabilities -> probabilities back onto the input grid -> argmax -> postprocess -> instances.
#include <algorithm>

#include "infer/fits_model.h"
#include "io/image_checks.h"
#include "useg/error.h"
#include "useg/imaging.h"
#include "useg/segment.h"

namespace useg {

WindowOptions window_options(const ModelInfo& info, const SegmentOptions& opts) {
  WindowOptions w;
  const auto& p = info.patch_size;
  if (info.model.dims == 3) {
    USEG_CHECK(p.size() == 3, "model.json: patch_size must have 3 entries for a 3D model, got "
                                  << p.size());
    w.patch = {p[0], p[1], p[2]};
  } else {
    USEG_CHECK(p.size() == 2, "model.json: patch_size must have 2 entries for a 2D model, got "
                                  << p.size());
    w.patch = {1, p[0], p[1]};
  }
  w.overlap = opts.overlap;
  w.batch = opts.batch;
  w.mirror = opts.tta;
  return w;
}

void check_segmentable(const Image& image, const ModelInfo& info) {
  const std::string& src = image.source;
  if (!image.voxels.defined() || image.geometry.voxels() <= 0 || image.voxels.numel() == 0)
    USEG_THROW(src << ": the image is empty (no voxels)");
  check_fits_model(image, info);
  if (has_non_finite(image))
    USEG_THROW(src << ": the image holds NaN or infinite voxel values");
}

Segmentation segment_image(const Image& image, const ModelInfo& info, Network& net,
                           const SegmentOptions& opts,
                           const std::function<void(int64_t, int64_t)>& progress) {
  check_segmentable(image, info);
  const int K = info.model.num_classes;
  const Geometry& g = image.geometry;
  Segmentation seg;
  Tensor probs;
  {
    NetworkInput in = preprocess(image, info);
    seg.network_geometry = in.geometry;
    seg.resampled = in.resampled;
    WindowOptions w = window_options(info, opts);
    int64_t windows = 0;
    probs = predict_probabilities(net, in.volume, w, [&](int64_t done, int64_t total) {
      windows = total;
      if (progress) progress(done, total);
    });
    seg.windows = windows;
  }  // the network input is freed here
  if (seg.resampled) probs = resample_to_geometry(probs, seg.network_geometry, g, Interp::Linear);
  seg.labels = argmax_labels(probs);
  if (opts.save_probabilities) seg.probabilities = probs;
  probs = Tensor();
  apply_postprocess(seg.labels, g, K, opts.postprocess, image.source);
  if (opts.instances || opts.measure)
    seg.instances = label_instances(seg.labels, g, K, &seg.instance_class);
  return seg;
}

// ------------------------------------------------------------------------------ memory
int64_t activation_bytes(const ModelInfo& info, const WindowOptions& w) {
  const ModelConfig& m = info.model;
  const int64_t n = w.batch;
  int64_t vox = w.patch[0] * w.patch[1] * w.patch[2];
  int64_t skips = 0, largest = 0;
  std::array<int64_t, 3> size{w.patch[0], w.patch[1], w.patch[2]};
  for (int s = 0; s <= m.depth; ++s) {
    int64_t v = size[0] * size[1] * size[2];
    int64_t f = m.filters(s);
    if (s < m.depth) skips += f * v;
    // block input, conv output and norm output at this level; in the decoder the upsampled
    // tensor and the concatenation (2F) as well.
    largest = std::max(largest, 6 * f * v);
    if (s < m.depth) {
      auto p = m.pool_size(s);
      for (int a = 0; a < 3; ++a) size[a] = std::max<int64_t>(1, size[a] / p[a]);
    }
  }
  // input window, logits and probabilities (twice more with mirroring: flipped copies)
  int64_t io = (m.in_channels + 2 * m.num_classes) * vox * (w.mirror ? 2 : 1);
  return int64_t(4) * n * (skips + largest + io);
}

MemoryEstimate estimate_case_memory(const Geometry& input, const Geometry& net_grid,
                                    int channels, const ModelInfo& info,
                                    const SegmentOptions& opts) {
  const int64_t C = channels, K = info.model.num_classes;
  const int64_t vin = input.voxels(), vnet = net_grid.voxels();
  MemoryEstimate e;
  int64_t floats = (3 * C + 2) * vin + (K + 1) * vnet + std::max(C * vnet, K * vin);
  if (opts.instances || opts.measure) floats += vin;
  e.image_bytes = 4 * floats;
  e.activation_bytes = activation_bytes(info, window_options(info, opts));
  e.weight_bytes = 4 * summarize(info.model).params;
  return e;
}

}  // namespace useg
