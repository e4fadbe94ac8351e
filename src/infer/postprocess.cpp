// Running `--postprocess` steps (parsed in src/config/postprocess_steps.cpp; the ITK work is in
// src/imaging/components.cpp).
#include <cmath>

#include "useg/error.h"
#include "useg/labels.h"
#include "useg/segment.h"

namespace useg {

void check_postprocess_classes(const std::vector<PostprocessStep>& steps, int num_classes,
                               const std::string& source) {
  for (const PostprocessStep& st : steps)
    for (int k : st.classes)
      if (k >= num_classes)
        USEG_THROW(source << ": postprocess step " << st.text << " names class " << k
                          << ", but the labels have classes 0 .. " << num_classes - 1);
}

void apply_postprocess(Tensor& labels, const Geometry& g, int num_classes,
                       const std::vector<PostprocessStep>& steps, const std::string& source) {
  check_postprocess_classes(steps, num_classes, source);
  for (const PostprocessStep& st : steps) {
    switch (st.kind) {
      case PostprocessStep::Kind::Largest:
        keep_largest_component(labels, g, num_classes, st.classes);
        break;
      case PostprocessStep::Kind::FillHoles:
        fill_holes(labels, g, num_classes);
        break;
      case PostprocessStep::Kind::LargestForeground: {
        Tensor fg = Tensor::empty(labels.shape());
        const float* l = labels.data();
        float* f = fg.data();
        for (int64_t i = 0; i < labels.numel(); ++i) f[i] = l[i] > 0.5f ? 1.f : 0.f;
        keep_largest_component(fg, g, 2, {});
        float* out = labels.data();
        for (int64_t i = 0; i < labels.numel(); ++i)
          if (f[i] == 0.f) out[i] = 0.f;
        break;
      }
      case PostprocessStep::Kind::MinSize: {
        double voxels = st.min_size;
        if (st.unit != "vox") {
          const bool volume = st.unit == "mm3";
          if (volume && g.dims == 2)
            USEG_THROW(source << ": postprocess step " << st.text
                              << " is a volume but the image is 2D; use mm2 (area) or vox");
          if (!volume && g.dims == 3)
            USEG_THROW(source << ": postprocess step " << st.text
                              << " is an area but the image is 3D; use mm3 (volume) or vox");
          voxels = st.min_size / g.voxel_volume();
        }
        // A component is kept when its size reaches the threshold; guard rounding of the
        // physical conversion (e.g. 50 mm3 / 0.5 mm3 = 100 voxels exactly).
        remove_small_components(labels, g, num_classes, voxels * (1 - 1e-9));
        break;
      }
    }
  }
}

}  // namespace useg
