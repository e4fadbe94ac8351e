// Preprocessing, exactly as model.json records it; the trainer runs this very code. The grid the
// network sees (network_grid) is computed here once, for preprocess() and for the memory
// estimate of `useg segment`.
#include <algorithm>
#include <cmath>
#include <optional>
#include <sstream>

#include "infer/fits_model.h"
#include "useg/error.h"
#include "imaging/imaging.h"
#include "useg/infer.h"
#include "useg/segment.h"

namespace useg {

namespace {

// The spacing (x, y, z) preprocessing resamples an image on `g` to, or nothing when it keeps the
// image's own grid: no target_spacing in model.json, or every axis within 1e-3 (relative) of
// it. model.json's target_spacing is [D, H, W]; a 2D model resamples in-plane only.
std::optional<std::array<double, 3>> resample_spacing(const Geometry& g, const ModelInfo& info) {
  const auto& t = info.preprocess.target_spacing;
  if (t.empty()) return std::nullopt;
  std::array<double, 3> target = g.spacing;  // x, y, z
  if (info.model.dims == 3) {
    USEG_REQUIRE(t.size() == 3, "preprocess.target_spacing must have 3 entries for a 3D model");
    target = {t[2], t[1], t[0]};
  } else {
    USEG_REQUIRE(t.size() == 2, "preprocess.target_spacing must have 2 entries for a 2D model");
    target[0] = t[1];
    target[1] = t[0];
  }
  bool same = true;
  for (int a = 0; a < 3; ++a)
    same = same &&
           std::fabs(target[a] - g.spacing[a]) <= 1e-3 * std::max(1e-6, std::fabs(target[a]));
  if (same) return std::nullopt;
  return target;
}

}  // namespace

void check_fits_model(const Image& image, const ModelInfo& info) {
  const ModelConfig& m = info.model;
  if (image.channels() != m.in_channels) {
    std::ostringstream names;
    for (size_t i = 0; i < info.preprocess.channels.size(); ++i)
      names << (i ? ", " : "") << info.preprocess.channels[i].name;
    USEG_THROW(image.source << ": the case has " << image.channels()
                            << " channel(s) but the model expects " << m.in_channels << " ("
                            << names.str()
                            << "); give one file per channel named CASE_0000, CASE_0001, ...");
  }
  if (m.dims == 3 && image.geometry.dims == 2)
    USEG_THROW(image.source << ": the model is 3D but the image is 2D");
}

Geometry network_grid(const Geometry& input, const ModelInfo& info) {
  const auto spacing = resample_spacing(input, info);
  return spacing ? spacing_grid(input, *spacing) : input;
}

NetworkInput preprocess(const Image& image, const ModelInfo& info) {
  check_fits_model(image, info);
  NetworkInput in;
  in.volume = image.voxels.clone();
  in.geometry = image.geometry;
  normalize_intensities(in.volume, info.preprocess);

  const auto spacing = resample_spacing(image.geometry, info);
  if (!spacing) return in;
  Image normalized{image.geometry, in.volume, image.source};
  Image r = resample_to_spacing(normalized, *spacing, Interp::Linear);
  in.volume = r.voxels;
  in.geometry = r.geometry;
  in.resampled = true;
  return in;
}

}  // namespace useg
