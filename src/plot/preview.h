// Preview pictures for a person: a PNG (cairo) with the label overlay on the image.
#pragma once

#include <string>
#include <vector>

#include "useg/image.h"
#include "useg/tensor.h"

namespace useg {

// Layout of a preview: one panel per view, each kPreviewPanelHeight pixels high and as wide as
// the view's physical aspect ratio asks (clamped to [32, 4 * height]), kPreviewGap pixels apart,
// over a legend strip kPreviewLegendHeight pixels high.
constexpr int kPreviewPanelHeight = 256;
constexpr int kPreviewGap = 4;
constexpr int kPreviewLegendHeight = 24;

struct PreviewLayout {
  int width = 0, height = 0;
  std::vector<int> panel_widths;  // 3D: axial (z), coronal (y), sagittal (x); 2D: one panel
};
PreviewLayout preview_layout(const Geometry& g);

// Writes `path` (atomically): the first channel of `image`, windowed to its 1st..99th
// percentiles, in grey, with `labels` [1, 1, D, H, W] (class indices) over it in semi-transparent
// colours per class. For 3D images: the middle slice of each axis, shown with the superior
// direction up where the direction matrix says which way that is; for 2D images: the image.
// `class_names[k]` labels the legend (k >= 1); `title` is printed in the legend strip.
void write_preview_png(const std::string& path, const Image& image, const Tensor& labels,
                       const std::vector<std::string>& class_names, const std::string& title);

// The same picture with objects instead of classes: `instances` [1, 1, D, H, W] holds object
// ids (0 = none); every object gets its own colour (ids walk round the hue circle by the golden
// angle, so neighbours in the id order differ) and its outline (pixels with a differing
// neighbour in the picture) is drawn opaque, so touching objects stay apart. The legend gives
// `title` and the number of objects ("128 nucleus objects").
void write_instance_preview_png(const std::string& path, const Image& image,
                                const Tensor& instances, const std::string& object_name,
                                const std::string& title);

}  // namespace useg
