// Preprocessing, exactly as model.json records it; the trainer runs this very code.
#include <cmath>
#include <sstream>

#include "useg/error.h"
#include "useg/imaging.h"
#include "useg/infer.h"

namespace useg {

NetworkInput preprocess(const Image& image, const ModelInfo& info) {
  const ModelConfig& m = info.model;
  if (image.channels() != m.in_channels) {
    std::ostringstream names;
    for (size_t i = 0; i < info.preprocess.channels.size(); ++i)
      names << (i ? ", " : "") << info.preprocess.channels[i].name;
    USEG_THROW(image.source << ": the case has " << image.channels()
                            << " channel(s), the model expects " << m.in_channels << " ("
                            << names.str() << ")");
  }
  USEG_CHECK(!(m.dims == 3 && image.geometry.dims == 2),
             image.source << ": the model is 3D but the image is 2D");
  NetworkInput in;
  in.volume = image.voxels.clone();
  in.geometry = image.geometry;
  normalize_intensities(in.volume, info.preprocess);

  const auto& t = info.preprocess.target_spacing;
  if (t.empty()) return in;
  std::array<double, 3> target = image.geometry.spacing;  // x, y, z
  if (m.dims == 3) {
    USEG_CHECK(t.size() == 3, "preprocess.target_spacing must have 3 entries for a 3D model");
    target = {t[2], t[1], t[0]};
  } else {
    USEG_CHECK(t.size() == 2, "preprocess.target_spacing must have 2 entries for a 2D model");
    target[0] = t[1];
    target[1] = t[0];
  }
  bool same = true;
  for (int a = 0; a < 3; ++a)
    same = same && std::fabs(target[a] - image.geometry.spacing[a]) <=
                       1e-3 * std::max(1e-6, std::fabs(target[a]));
  if (same) return in;
  Image normalized{image.geometry, in.volume, image.source};
  Image r = resample_to_spacing(normalized, target, Interp::Linear);
  in.volume = r.voxels;
  in.geometry = r.geometry;
  in.resampled = true;
  return in;
}

}  // namespace useg
