// Patch sampling and data augmentation, on the CPU, single-threaded per sample (the loader runs
// samples in worker threads). Tensors here are one sample: image [1, C, D, H, W] and label
// [1, 1, D, H, W] (class indices as floats); spatial axes are numbered 0 = D, 1 = H, 2 = W.
//
// Spatial transforms (rotation, zoom) are our own trilinear / nearest sampling straight from the
// whole preprocessed volume rather than ITK: the patch is read through the transform, so there is
// no border to crop and no intermediate larger patch, it runs in any worker thread without ITK's
// own thread pool, and the result is bit-for-bit reproducible. Points outside the volume read 0
// (the normalized mean) in the image and background in the label, as nnU-Net pads.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "train/data.h"
#include "train/rng.h"
#include "useg/config.h"
#include "useg/tensor.h"

namespace useg::training {

using Mat3 = std::array<double, 9>;  // row-major, acts on (z, y, x) offsets
constexpr Mat3 kIdentity3{1, 0, 0, 0, 1, 0, 0, 0, 1};

// ------------------------------------------------------------------------------- sampling
// nnU-Net's rule: the last round(batch * oversample) samples of a batch are forced to hold
// foreground.
bool forced_foreground(int sample, int batch, double oversample);

// Where a patch of size `patch` [D, H, W] comes from: `start` is the voxel of the volume that
// patch voxel (0, 0, 0) shows without a spatial transform. A forced-foreground patch is centred
// on a random voxel of a random foreground class present in the case (a random patch when the
// case has none); otherwise the position is uniform. A volume smaller than the patch along an
// axis is placed at random inside the patch (zero padding), as nnU-Net does.
struct PatchSource {
  size_t case_index = 0;
  std::array<int64_t, 3> start{0, 0, 0};
};
PatchSource choose_patch(const std::vector<TrainingCase>& cases,
                         const std::array<int64_t, 3>& patch, bool foreground, Rng& rng);

// ------------------------------------------------------------------------------- spatial
// Fills `image` [1, C, pD, pH, pW] and `label` [1, 1, pD, pH, pW] with the patch whose voxel p
// samples the volume at  centre + A (p - (P - 1) / 2),  centre = start + (P - 1) / 2: image
// trilinear, label nearest. With A the identity this is an exact copy.
// With `displacement` [1, 3, pD, pH, pW] (voxels along D, H, W; elastic_displacement), patch
// voxel p samples  centre + A (p - (P - 1) / 2 + displacement(p))  instead.
void extract_patch(const TrainingCase& c, const std::array<int64_t, 3>& start, const Mat3& a,
                   Tensor& image, Tensor& label, const Tensor* displacement = nullptr);

// Elastic deformation (batchgenerators' elastic_deform_coordinates, which nnU-Net uses): per
// spatial axis a field of uniform(-1, 1) noise on the patch grid, smoothed by a Gaussian of
// `sigma` voxels (zero outside the patch, radius 4 sigma) and multiplied by `alpha`. Returns
// [1, 3, pD, pH, pW]; a 2D patch (dims 2) gets no D component and in-plane smoothing only.
Tensor elastic_displacement(const std::array<int64_t, 3>& patch, int dims, double alpha,
                            double sigma, Rng& rng);

// Rotation (radians, about the D, H and W axes; a 2D patch uses only the in-plane angle about D)
// combined with an isotropic zoom `scale` (> 1 magnifies): A = R / scale.
Mat3 rotation_zoom(const std::array<double, 3>& angles, double scale);

// Exact permutations, applied to image and label alike.
void flip_axis(Tensor& t, int axis);
// Rotates the (H, W) plane by k * 90 degrees counter-clockwise; odd k needs H == W.
void rotate90_hw(Tensor& t, int k);

// ------------------------------------------------------------------------------- intensity
// Image only; each acts on every channel.
void add_gaussian_noise(Tensor& image, double std, Rng& rng);
// Separable Gaussian blur over the spatial axes longer than 1 (in-plane for a 2D patch),
// kernel radius ceil(3 sigma), edges replicated.
void gaussian_blur(Tensor& image, double sigma);
void scale_brightness(Tensor& image, double factor);
// Per channel: (v - mean) * factor + mean, clipped to the channel's previous [min, max].
void adjust_contrast(Tensor& image, double factor);
// Per channel: rescale to [0, 1] by min/max, raise to gamma, map back, then restore the
// channel's mean and standard deviation (nnU-Net's retain_stats).
void adjust_gamma(Tensor& image, double gamma);
// Low-resolution simulation (nnU-Net v2's SimulateLowResolutionTransform) of one channel: along
// each spatial axis longer than 1, down to round(size * zoom) voxels (halves to even, as
// Python) by nearest neighbour (torch's "nearest-exact"), then back up by linear interpolation
// between voxel centres (align_corners false). Equal to batchgeneratorsv2's result to float
// rounding (tests/unit/test_train_augment_golden.cpp). zoom in (0, 1].
void simulate_low_resolution(Tensor& image, int channel, const std::array<double, 3>& zoom);

// ------------------------------------------------------------------------------- a sample
// The whole recipe for sample `sample` of a batch: patch choice, spatial transform, intensity
// transforms, flips, 90-degree rotations, each with its probability from `aug`; every random
// number comes from `rng`. `image`/`label` are the sample's rows of the batch tensors.
void make_sample(const std::vector<TrainingCase>& cases, const TrainConfig& t, int dims,
                 int sample, Rng& rng, Tensor& image, Tensor& label);
// The recipe after the patch choice: the patch of `c` at `start` through the spatial, intensity,
// mirroring and 90-degree transforms. A case without a label map (classification) fills
// `label` with background.
void augment_sample(const TrainingCase& c, const std::array<int64_t, 3>& start,
                    const TrainConfig& t, int dims, Rng& rng, Tensor& image, Tensor& label);

// A batch: image [B, C, pD, pH, pW], label [B, 1, pD, pH, pW], CPU.
struct Batch {
  Tensor image;
  Tensor label;
};
// Sample b of the batch for (epoch, iteration) uses Rng(seed, Sample, {epoch, iteration, b}).
// Data-parallel: rank r of `ranks` makes only the samples b = r, r + ranks, ... of the global
// batch of train.batch_size (its share, in that order), so the ranks' shares together are exactly
// the batch one process makes.
Batch make_batch(const std::vector<TrainingCase>& cases, const TrainConfig& t, int dims,
                 int channels, int64_t epoch, int64_t iteration, int rank = 0, int ranks = 1);

// The number of samples of a batch of `batch` that rank `rank` of `ranks` makes.
inline int batch_share(int batch, int rank, int ranks) {
  return rank < batch ? (batch - rank + ranks - 1) / ranks : 0;
}

}  // namespace useg::training
