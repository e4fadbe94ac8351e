// One case of `useg segment`, the compute part: checks -> preprocess -> sliding-window
// probabilities -> probabilities back onto the input grid -> argmax -> postprocess -> instances.
#include <algorithm>
#include <cmath>

#include "infer/auto_diameter.h"
#include "infer/fits_model.h"
#include "io/image_checks.h"
#include "useg/error.h"
#include "imaging/imaging.h"
#include "useg/labels.h"
#include "useg/segment.h"

namespace useg {

WindowOptions window_options(const ModelInfo& info, const SegmentOptions& opts) {
  WindowOptions w;
  const auto& p = info.patch_size;
  if (info.model.dims == 3) {
    USEG_REQUIRE(p.size() == 3,
                 "model.json: patch_size must have 3 entries for a 3D model, got " << p.size());
    w.patch = {p[0], p[1], p[2]};
  } else {
    USEG_REQUIRE(p.size() == 2,
                 "model.json: patch_size must have 2 entries for a 2D model, got " << p.size());
    w.patch = {1, p[0], p[1]};
  }
  w.overlap = opts.overlap;
  w.batch = opts.batch;
  w.mirror = opts.tta.value_or(info.inference.tta);
  return w;
}

ModelInfo case_model_info(const ModelInfo& info, const Geometry& g, const SegmentOptions& opts) {
  if (opts.diameter <= 0 && !opts.auto_diameter) return info;
  if (!info.instance_target())
    USEG_THROW("--diameter needs an instance model (model.json target 'instances'); this one "
               "segments classes");
  if (!(info.instances.diameter > 0))
    USEG_THROW("--diameter needs model.json's instances.diameter (the median diameter of the "
               "training objects, which useg train records); this model has none");
  if (opts.diameter <= 0) return info;  // auto: each pass gives its own (auto_diameter.h)
  const double f = opts.diameter / info.instances.diameter;
  ModelInfo c = info;
  std::vector<double>& t = c.preprocess.target_spacing;  // [D, H, W] or [H, W]
  if (t.empty())
    t = info.model.dims == 3 ? std::vector<double>{g.spacing[2], g.spacing[1], g.spacing[0]}
                             : std::vector<double>{g.spacing[1], g.spacing[0]};
  for (double& v : t) v *= f;
  const double area = std::pow(f, info.model.dims);
  c.instances.seed_min_size *= area;
  c.instances.min_size *= area;
  c.instances.seed_split *= f;
  c.instances.diameter = opts.diameter;
  return c;
}

std::vector<PostprocessStep> postprocess_steps(const ModelInfo& info, const SegmentOptions& opts) {
  return opts.postprocess ? *opts.postprocess : parse_postprocess(info.inference.postprocess);
}

void check_segmentable(const Image& image, const ModelInfo& info) {
  const std::string& src = image.source;
  if (!image.voxels.defined() || image.geometry.voxels() <= 0 || image.voxels.numel() == 0)
    USEG_THROW(src << ": the image is empty (no voxels)");
  check_fits_model(image, info);
}

std::vector<std::string> output_labels(const ModelInfo& info) {
  if (info.instance_target()) {
    const std::string background = info.labels.empty() ? "background" : info.labels[0];
    return {background, info.instances.object};
  }
  return info.labels;
}

Tensor instance_foreground(const Tensor& probabilities, const Geometry& g, const ModelInfo& info,
                           const SegmentOptions& opts, const std::string& source) {
  Tensor labels = argmax_labels(probabilities);
  float* l = labels.data();
  for (int64_t i = 0; i < labels.numel(); ++i) l[i] = l[i] > 0.5f ? 1.f : 0.f;
  apply_postprocess(labels, g, 2, postprocess_steps(info, opts), source);
  return labels;
}

namespace {

// An instance model: the objects are split from the foreground (instance_foreground) and the
// labels become their union, so that the labels, the instances and the measurements always
// describe the same objects.
void split_objects(Segmentation& seg, const Tensor& probs, const Geometry& g,
                   const ModelInfo& info, const SegmentOptions& opts, const std::string& source) {
  seg.labels = instance_foreground(probs, g, info, opts, source);
  seg.instances = split_instances(seg.labels, probs, g, info.instances);
  float* l = seg.labels.data();
  const float* id = seg.instances.data();
  float count = 0;
  for (int64_t i = 0; i < seg.labels.numel(); ++i) {
    l[i] = id[i] > 0 ? 1.f : 0.f;
    count = std::max(count, id[i]);
  }
  seg.instance_class.assign(static_cast<size_t>(count), 1);
}

}  // namespace

Segmentation segment_image(const Image& image, const ModelInfo& info, Network& net,
                           const SegmentOptions& opts,
                           const std::function<void(int64_t, int64_t)>& progress) {
  return segment_image(image, info, std::vector<Network*>{&net}, opts, progress);
}

Segmentation segment_image(const Image& image, const ModelInfo& info,
                           const std::vector<Network*>& nets, const SegmentOptions& opts,
                           const std::function<void(int64_t, int64_t)>& progress) {
  return segment_image(image, std::vector<ModelGroup>{ModelGroup{info, nets}}, opts, progress);
}

namespace {

// One group's probabilities [1, K, D, H, W] on the input grid. Every group's windows are counted
// in `seg`; the first group's network grid is the one `seg` records.
Tensor group_probabilities(const Image& image, const ModelInfo& info,
                           const std::vector<Network*>& nets, const SegmentOptions& opts,
                           const std::function<void(int64_t, int64_t)>& progress, Segmentation& seg,
                           bool first) {
  Tensor probs;
  Geometry grid;
  bool resampled = false;
  {
    NetworkInput in = preprocess(image, info);
    grid = in.geometry;
    resampled = in.resampled;
    int64_t windows = 0;
    probs = predict_probabilities(nets, in.volume, window_options(info, opts),
                                  [&](int64_t done, int64_t total) {
                                    windows = total;
                                    if (progress) progress(done, total);
                                  });
    seg.windows += windows;
  }  // the network input is freed here
  if (first) {
    seg.network_geometry = grid;
    seg.resampled = resampled;
  }
  if (resampled) probs = resample_to_geometry(probs, grid, image.geometry, Interp::Linear);
  return probs;
}

}  // namespace

Segmentation segment_image(const Image& image, const std::vector<ModelGroup>& groups,
                           const SegmentOptions& opts,
                           const std::function<void(int64_t, int64_t)>& progress) {
  USEG_REQUIRE(!groups.empty(), "segment_image: no model");
  if (opts.auto_diameter) return segment_estimating_diameter(image, groups, opts, progress);
  for (const ModelGroup& group : groups) check_segmentable(image, group.info);
  // The batch replaces non-finite voxels when it reads a case (and reports them); an image
  // given here directly gets the same rule on a copy.
  if (has_non_finite(image)) {
    Image clean = image;
    clean.voxels = image.voxels.clone();
    replace_non_finite(clean);
    return segment_image(clean, groups, opts, progress);
  }
  const Geometry& g = image.geometry;
  const ModelInfo info = case_model_info(groups[0].info, g, opts);
  Segmentation seg;
  seg.diameter = opts.diameter;
  Tensor probs = group_probabilities(image, info, groups[0].nets, opts, progress, seg, true);
  if (groups.size() > 1) {  // the configurations' mean on the input grid
    float* sum = probs.data();
    for (size_t i = 1; i < groups.size(); ++i) {
      const Tensor p = group_probabilities(image, case_model_info(groups[i].info, g, opts),
                                           groups[i].nets, opts, progress, seg, false);
      USEG_REQUIRE(p.numel() == probs.numel(), "segment_image: the configurations' outputs differ");
      const float* v = p.data();
      for (int64_t j = 0; j < probs.numel(); ++j) sum[j] += v[j];
    }
    const float scale = 1.f / float(groups.size());
    for (int64_t j = 0; j < probs.numel(); ++j) sum[j] *= scale;
  }
  if (opts.save_probabilities) seg.probabilities = probs;
  segment_probabilities(seg, std::move(probs), g, info, opts, image.source);
  return seg;
}

void segment_probabilities(Segmentation& seg, Tensor probs, const Geometry& g,
                           const ModelInfo& info, const SegmentOptions& opts,
                           const std::string& source) {
  if (info.instance_target()) {
    split_objects(seg, probs, g, info, opts, source);
    return;
  }
  const int K = info.model.num_classes;
  seg.labels = argmax_labels(probs);
  probs = Tensor();
  apply_postprocess(seg.labels, g, K, postprocess_steps(info, opts), source);
  if (opts.instances || opts.measure)
    seg.instances = label_instances(seg.labels, g, K, &seg.instance_class);
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
  if (opts.instances || opts.measure || info.instance_target()) floats += vin;
  // An instance model's split: ITK's masks, markers, relief and watershed images.
  if (info.instance_target()) floats += 8 * vin;
  e.image_bytes = 4 * floats;
  e.activation_bytes = activation_bytes(info, window_options(info, opts));
  e.weight_bytes = 4 * summarize(info.model).params;
  return e;
}

}  // namespace useg
