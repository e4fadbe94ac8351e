// Inference core shared by `useg segment` and the trainer's validation: preprocessing exactly as
// model.json records it, and Gaussian-weighted sliding-window prediction.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "useg/config.h"
#include "useg/image.h"
#include "useg/model.h"
#include "useg/tensor.h"

namespace useg {

// ---------------------------------------------------------------------------- preprocessing
// The network sees: intensities normalized per channel (PreprocessConfig::channels), then the
// volume resampled (linear) to target_spacing. A 2D model applied to a 3D image works slice by
// slice: only the in-plane axes are resampled.
struct NetworkInput {
  Tensor volume;      // [1, C, D, H, W] float, CPU
  Geometry geometry;  // the volume's grid (origin and direction of the source image)
  bool resampled = false;
};

// Normalizes every channel of `volume` [1, C, D, H, W] in place. Throws naming the channel when
// the config has a different number of channels.
void normalize_intensities(Tensor& volume, const PreprocessConfig& pp);
NetworkInput preprocess(const Image& image, const ModelInfo& info);

// ----------------------------------------------------------------------------- sliding window
struct WindowOptions {
  std::array<int64_t, 3> patch{1, 128, 128};  // [D, H, W]
  double overlap = 0.5;     // fraction of the patch shared by neighbouring windows, [0, 1)
  int batch = 1;            // windows per forward pass
  bool mirror = false;      // test-time augmentation: average over all flips of the spatial axes
  double sigma_scale = 1.0 / 8;  // Gaussian importance sigma = patch * sigma_scale
};

// Start positions of windows along one axis (nnU-Net's rule): one window when size <= patch;
// otherwise ceil((size - patch) / (patch * (1 - overlap))) + 1 windows evenly spread from 0 to
// size - patch.
std::vector<int64_t> window_starts(int64_t size, int64_t patch, double overlap);

// Gaussian importance map [1, 1, pd, ph, pw], peak 1 at the centre, sigma = patch * sigma_scale
// per axis, values below the smallest positive one clamped to it (no zero weights).
Tensor gaussian_importance(const std::array<int64_t, 3>& patch, double sigma_scale);

// Class probabilities [1, classes, D, H, W] (CPU) of a preprocessed volume [1, C, D, H, W]
// (CPU). Volumes smaller than the patch are zero-padded (in normalized space) and the result
// cropped back. `progress(done, total)` is called after every batch of windows when given.
Tensor predict_probabilities(Network& net, const Tensor& volume, const WindowOptions& opts,
                             const std::function<void(int64_t, int64_t)>& progress = {});
// An ensemble: the mean of the networks' softmax probabilities, inside one pass over the
// windows (each window batch runs through every network in turn, mirrored too with
// opts.mirror), so the result is the mean of the single-network results up to rounding. The
// networks must share the class count and the patch's size multiple; they need not share an
// architecture.
Tensor predict_probabilities(const std::vector<Network*>& nets, const Tensor& volume,
                             const WindowOptions& opts,
                             const std::function<void(int64_t, int64_t)>& progress = {});

// Labels [1, 1, D, H, W] (CPU) = argmax over classes.
Tensor argmax_labels(const Tensor& probabilities);

}  // namespace useg
