// Patch positions (nnU-Net's data loader rules) and the per-sample recipe.
#include <algorithm>
#include <cmath>

#include "train/augment.h"
#include "useg/error.h"

namespace useg::training {

bool forced_foreground(int sample, int batch, double oversample) {
  return !(sample < std::lround(double(batch) * (1.0 - oversample)));
}

PatchSource choose_patch(const std::vector<TrainingCase>& cases,
                         const std::array<int64_t, 3>& patch, bool foreground, Rng& rng) {
  USEG_REQUIRE(!cases.empty(), "choose_patch: no training cases");
  PatchSource src;
  src.case_index = static_cast<size_t>(rng.below(int64_t(cases.size())));
  const TrainingCase& c = cases[src.case_index];
  std::array<int64_t, 3> lb{}, ub{};
  for (int a = 0; a < 3; ++a) {
    int64_t need = std::max<int64_t>(0, patch[a] - c.size[a]);
    lb[a] = -need / 2;
    ub[a] = c.size[a] + need / 2 + need % 2 - patch[a];
  }
  std::vector<int> present;
  if (foreground)
    for (size_t k = 1; k < c.class_voxels.size(); ++k)
      if (!c.class_voxels[k].empty()) present.push_back(static_cast<int>(k));
  if (!present.empty()) {
    int k = present[static_cast<size_t>(rng.below(int64_t(present.size())))];
    const auto& vox = c.class_voxels[static_cast<size_t>(k)];
    int64_t v = vox[static_cast<size_t>(rng.below(int64_t(vox.size())))];
    std::array<int64_t, 3> pos{v / (c.size[1] * c.size[2]), (v / c.size[2]) % c.size[1],
                               v % c.size[2]};
    for (int a = 0; a < 3; ++a) src.start[a] = std::clamp(pos[a] - patch[a] / 2, lb[a], ub[a]);
  } else {
    for (int a = 0; a < 3; ++a) src.start[a] = rng.between(lb[a], ub[a]);
  }
  return src;
}

void make_sample(const std::vector<TrainingCase>& cases, const TrainConfig& t, int dims,
                 int sample, Rng& rng, Tensor& image, Tensor& label) {
  const Shape& s = image.shape();
  const std::array<int64_t, 3> patch{s.d(), s.h(), s.w()};
  bool fg = forced_foreground(sample, t.batch_size, t.oversample_foreground);
  PatchSource src = choose_patch(cases, patch, fg, rng);
  augment_sample(cases[src.case_index], src.start, t, dims, rng, image, label);
}

void augment_sample(const TrainingCase& c, const std::array<int64_t, 3>& start,
                    const TrainConfig& t, int dims, Rng& rng, Tensor& image, Tensor& label) {
  const Shape& s = image.shape();
  const std::array<int64_t, 3> patch{s.d(), s.h(), s.w()};
  const AugmentConfig& a = t.augment;

  // Spatial: rotation and zoom, read straight through the transform.
  const double pi = 3.14159265358979323846;
  std::array<double, 3> angles{0, 0, 0};
  double zoom = 1.0;
  bool spatial = false;
  if (rng.chance(a.rotate)) {
    double m = a.rotate_max_deg * pi / 180.0;
    if (dims == 2) {
      angles[0] = rng.uniform(-m, m);
    } else {
      for (double& x : angles) x = rng.uniform(-m, m);
    }
    spatial = true;
  }
  if (rng.chance(a.scale)) {
    zoom = rng.uniform(a.scale_min, a.scale_max);
    spatial = true;
  }
  // Elastic deformation (off by default, as in nnU-Net): its field's noise comes from a
  // generator seeded by one draw, so the other transforms draw the same numbers either way.
  Tensor field;
  if (rng.chance(a.elastic)) {
    const double alpha = rng.uniform(a.elastic_alpha_min, a.elastic_alpha_max);
    const double sigma = rng.uniform(a.elastic_sigma_min, a.elastic_sigma_max);
    Rng noise(rng.next());
    field = elastic_displacement(patch, dims, alpha, sigma, noise);
  }
  extract_patch(c, start, spatial ? rotation_zoom(angles, zoom) : kIdentity3, image, label,
                field.defined() ? &field : nullptr);

  // Intensity (image only).
  if (rng.chance(a.noise)) add_gaussian_noise(image, rng.uniform(0.0, a.noise_std_max), rng);
  if (rng.chance(a.blur)) gaussian_blur(image, rng.uniform(a.blur_sigma_min, a.blur_sigma_max));
  if (rng.chance(a.brightness))
    scale_brightness(image, rng.uniform(a.brightness_min, a.brightness_max));
  if (rng.chance(a.contrast)) adjust_contrast(image, rng.uniform(a.contrast_min, a.contrast_max));
  // Low resolution (nnU-Net: after contrast, before gamma): each channel with probability
  // low_res_per_channel, one zoom for all axes of a channel (in-plane for a 2D patch).
  if (rng.chance(a.low_res))
    for (int64_t ch = 0; ch < s.c(); ++ch)
      if (rng.chance(a.low_res_per_channel)) {
        const double z = rng.uniform(a.low_res_zoom_min, a.low_res_zoom_max);
        simulate_low_resolution(image, int(ch), {dims == 3 ? z : 1.0, z, z});
      }
  if (rng.chance(a.gamma)) adjust_gamma(image, rng.uniform(a.gamma_min, a.gamma_max));

  // Mirroring and 90-degree rotations: exact, image and label alike.
  for (int axis = dims == 3 ? 0 : 1; axis < 3; ++axis)
    if (patch[axis] > 1 && rng.chance(a.flip)) {
      flip_axis(image, axis);
      flip_axis(label, axis);
    }
  if (rng.chance(a.rotate90)) {
    int k = patch[1] == patch[2] ? 1 + static_cast<int>(rng.below(3)) : 2;
    rotate90_hw(image, k);
    rotate90_hw(label, k);
  }
}

Batch make_batch(const std::vector<TrainingCase>& cases, const TrainConfig& t, int dims,
                 int channels, int64_t epoch, int64_t iteration, int rank, int ranks) {
  const auto& p = t.patch_size;
  std::array<int64_t, 3> patch = dims == 3 ? std::array<int64_t, 3>{p[0], p[1], p[2]}
                                           : std::array<int64_t, 3>{1, p[0], p[1]};
  const int share = batch_share(t.batch_size, rank, ranks);
  USEG_REQUIRE(share > 0, "make_batch: rank " << rank << " of " << ranks << " has no sample of a "
                                              << "batch of " << t.batch_size);
  Batch b;
  b.image = Tensor::empty(Shape{share, channels, patch[0], patch[1], patch[2]});
  b.label = Tensor::empty(Shape{share, 1, patch[0], patch[1], patch[2]});
  for (int i = 0; i < share; ++i) {
    const int n = rank + i * ranks;  // the sample's index in the global batch
    Rng rng(t.seed, Stream::Sample, {uint64_t(epoch), uint64_t(iteration), uint64_t(n)});
    Tensor img = b.image.batch_slice(i, 1), lab = b.label.batch_slice(i, 1);
    make_sample(cases, t, dims, n, rng, img, lab);
  }
  return b;
}

}  // namespace useg::training
