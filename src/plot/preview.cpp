// Preview PNGs with cairo: grey image (1st..99th percentile window) with the labels over it in
// semi-transparent colours, middle slice of each axis for 3D images, and a legend strip.
#include "util/stats.h"
#include "plot/preview.h"

#include <cairo.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>

#include "useg/error.h"
#include "core/files.h"

namespace useg {

namespace {

struct View {
  int slice_axis;       // index axis held fixed (x 0, y 1, z 2)
  int h_axis, v_axis;   // index axes shown horizontally and vertically
  bool flip_h = false, flip_v = false;
};

std::vector<View> views_for(const Geometry& g) {
  if (g.dims == 2 || g.size[2] == 1) return {View{2, 0, 1}};
  auto dir = [&](int row, int col) { return g.direction[3 * row + col]; };
  // Patient coordinates (LPS): +x left, +y posterior, +z superior. Show superior up, anterior
  // up in the axial view, patient right on the left of the picture (radiological convention).
  View axial{2, 0, 1, dir(0, 0) < 0, dir(1, 1) < 0};
  View coronal{1, 0, 2, dir(0, 0) < 0, dir(2, 2) > 0};
  View sagittal{0, 1, 2, dir(1, 1) < 0, dir(2, 2) > 0};
  return {axial, coronal, sagittal};
}

int panel_width(const Geometry& g, const View& v) {
  double eh = double(g.size[v.h_axis]) * g.spacing[v.h_axis];
  double ev = double(g.size[v.v_axis]) * g.spacing[v.v_axis];
  double w = std::round(kPreviewPanelHeight * eh / std::max(ev, 1e-9));
  return static_cast<int>(std::clamp(w, 32.0, 4.0 * kPreviewPanelHeight));
}

std::array<double, 3> class_colour(int k) {
  static const double table[][3] = {{0.95, 0.20, 0.20}, {0.20, 0.85, 0.25}, {0.25, 0.45, 1.00},
                                    {1.00, 0.85, 0.10}, {0.90, 0.25, 0.90}, {0.10, 0.85, 0.90},
                                    {1.00, 0.55, 0.10}, {0.55, 0.35, 0.95}, {0.60, 0.95, 0.40},
                                    {0.95, 0.55, 0.65}};
  const auto& c = table[(k - 1) % 10];
  return {c[0], c[1], c[2]};
}

// Object colours: hue steps of the golden angle (137.5 degrees), full saturation and value.
std::array<double, 3> instance_colour(int64_t id) {
  const double h = std::fmod(double(id) * 0.381966, 1.0) * 6.0;
  const int sector = static_cast<int>(h) % 6;
  const double f = h - std::floor(h);
  switch (sector) {
    case 0: return {1, f, 0};
    case 1: return {1 - f, 1, 0};
    case 2: return {0, 1, f};
    case 3: return {0, 1 - f, 1};
    case 4: return {f, 0, 1};
    default: return {1, 0, 1 - f};
  }
}

// How labels are drawn: by class (semi-transparent class colours) or by object (own colours,
// opaque outlines).
struct Overlay {
  bool instances = false;
};

using Surface = std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)>;
using Context = std::unique_ptr<cairo_t, decltype(&cairo_destroy)>;

// The slice of `view` as an ARGB32 surface at one pixel per voxel.
Surface slice_surface(const Image& image, const Tensor& labels, const View& v, float lo,
                      float hi, const Overlay& overlay) {
  const Geometry& g = image.geometry;
  const int w = static_cast<int>(g.size[v.h_axis]), h = static_cast<int>(g.size[v.v_axis]);
  Surface s(cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h), &cairo_surface_destroy);
  USEG_CHECK(cairo_surface_status(s.get()) == CAIRO_STATUS_SUCCESS,
             "preview: cannot create a " << w << "x" << h << " picture");
  cairo_surface_flush(s.get());
  unsigned char* data = cairo_image_surface_get_data(s.get());
  const int stride = cairo_image_surface_get_stride(s.get());
  const int64_t fixed = g.size[v.slice_axis] / 2;
  const float* img = image.voxels.data();  // channel 0
  const float* lab = labels.data();
  const double alpha = 0.45;
  auto voxel = [&](int r, int c) {  // picture row/column -> voxel index
    std::array<int64_t, 3> idx{};
    idx[v.slice_axis] = fixed;
    idx[v.h_axis] = v.flip_h ? w - 1 - c : c;
    idx[v.v_axis] = v.flip_v ? h - 1 - r : r;
    return (idx[2] * g.size[1] + idx[1]) * g.size[0] + idx[0];
  };
  auto label_at = [&](int r, int c) { return std::llround(lab[voxel(r, c)]); };
  for (int r = 0; r < h; ++r) {
    uint32_t* row = reinterpret_cast<uint32_t*>(data + r * stride);
    for (int c = 0; c < w; ++c) {
      const int64_t i = voxel(r, c);
      double grey = hi > lo ? std::clamp((img[i] - lo) / (hi - lo), 0.f, 1.f) : 0.0;
      std::array<double, 3> rgb{grey, grey, grey};
      const int64_t k = label_at(r, c);
      if (k > 0 && !overlay.instances) {
        auto col = class_colour(static_cast<int>(k));
        for (int j = 0; j < 3; ++j) rgb[j] = (1 - alpha) * rgb[j] + alpha * col[j];
      } else if (k > 0) {
        const bool edge = (r > 0 && label_at(r - 1, c) != k) ||
                          (r + 1 < h && label_at(r + 1, c) != k) ||
                          (c > 0 && label_at(r, c - 1) != k) ||
                          (c + 1 < w && label_at(r, c + 1) != k);
        const double a = edge ? 1.0 : alpha;
        auto col = instance_colour(k);
        for (int j = 0; j < 3; ++j) rgb[j] = (1 - a) * rgb[j] + a * col[j];
      }
      auto byte = [](double x) { return static_cast<uint32_t>(std::lround(x * 255)); };
      row[c] = (byte(rgb[0]) << 16) | (byte(rgb[1]) << 8) | byte(rgb[2]);
    }
  }
  cairo_surface_mark_dirty(s.get());
  return s;
}

}  // namespace

PreviewLayout preview_layout(const Geometry& g) {
  PreviewLayout l;
  for (const View& v : views_for(g)) l.panel_widths.push_back(panel_width(g, v));
  for (size_t i = 0; i < l.panel_widths.size(); ++i)
    l.width += l.panel_widths[i] + (i ? kPreviewGap : 0);
  l.height = kPreviewPanelHeight + kPreviewLegendHeight;
  return l;
}

namespace {

// The picture, with the legend drawn by `legend(cr, x, y)` after the title.
void write_picture(const std::string& path, const Image& image, const Tensor& labels,
                   const Overlay& overlay, const std::string& title,
                   const std::function<void(cairo_t*, double, double)>& legend) {
  const Geometry& g = image.geometry;
  USEG_CHECK(labels.defined() && labels.numel() == g.voxels() && image.voxels.defined() &&
                 image.voxels.numel() >= g.voxels(),
             "preview: labels and image do not match " << g.str());
  // Intensity window: 1st and 99th percentiles of the first channel (a strided sample of at
  // most ~1M voxels).
  const int64_t n = g.voxels();
  const int64_t step = std::max<int64_t>(1, n / (1 << 20));
  std::vector<float> sample;
  for (int64_t i = 0; i < n; i += step) sample.push_back(image.voxels.data()[i]);
  const float lo = static_cast<float>(percentile(sample, 1.0));
  const float hi = static_cast<float>(percentile(std::move(sample), 99.0));

  PreviewLayout layout = preview_layout(g);
  Surface out(cairo_image_surface_create(CAIRO_FORMAT_RGB24, layout.width, layout.height),
              &cairo_surface_destroy);
  Context cr(cairo_create(out.get()), &cairo_destroy);
  cairo_set_source_rgb(cr.get(), 0.08, 0.08, 0.08);
  cairo_paint(cr.get());
  std::vector<View> views = views_for(g);
  double x0 = 0;
  for (size_t i = 0; i < views.size(); ++i) {
    Surface s = slice_surface(image, labels, views[i], lo, hi, overlay);
    cairo_save(cr.get());
    cairo_translate(cr.get(), x0, 0);
    cairo_scale(cr.get(),
                double(layout.panel_widths[i]) / cairo_image_surface_get_width(s.get()),
                double(kPreviewPanelHeight) / cairo_image_surface_get_height(s.get()));
    cairo_set_source_surface(cr.get(), s.get(), 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr.get()), CAIRO_FILTER_NEAREST);
    cairo_paint(cr.get());
    cairo_restore(cr.get());
    x0 += layout.panel_widths[i] + kPreviewGap;
  }
  // Legend: title, then a colour swatch and name per foreground class.
  cairo_select_font_face(cr.get(), "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                         CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr.get(), 12);
  double y = kPreviewPanelHeight + 16, x = 6;
  cairo_set_source_rgb(cr.get(), 0.9, 0.9, 0.9);
  cairo_move_to(cr.get(), x, y);
  cairo_show_text(cr.get(), title.c_str());
  cairo_text_extents_t ext;
  cairo_text_extents(cr.get(), title.c_str(), &ext);
  x += ext.x_advance + 14;
  legend(cr.get(), x, y);
  cairo_surface_flush(out.get());
  std::string tmp = temp_path_for(path);
  cairo_status_t st = cairo_surface_write_to_png(out.get(), tmp.c_str());
  try {
    if (st != CAIRO_STATUS_SUCCESS) throw_write_failure(path, cairo_status_to_string(st));
    check_external_write(tmp, path);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  commit_temp_file(tmp, path);
}

}  // namespace

void write_preview_png(const std::string& path, const Image& image, const Tensor& labels,
                       const std::vector<std::string>& class_names, const std::string& title) {
  write_picture(path, image, labels, Overlay{false}, title, [&](cairo_t* cr, double x, double y) {
    cairo_text_extents_t ext;
    for (size_t k = 1; k < class_names.size(); ++k) {
      auto c = class_colour(static_cast<int>(k));
      cairo_set_source_rgb(cr, c[0], c[1], c[2]);
      cairo_rectangle(cr, x, y - 10, 10, 10);
      cairo_fill(cr);
      cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
      cairo_move_to(cr, x + 14, y);
      std::string name = std::to_string(k) + " " + class_names[k];
      cairo_show_text(cr, name.c_str());
      cairo_text_extents(cr, name.c_str(), &ext);
      x += 14 + ext.x_advance + 12;
    }
  });
}

void write_instance_preview_png(const std::string& path, const Image& image,
                                const Tensor& instances, const std::string& object_name,
                                const std::string& title) {
  int64_t count = 0;
  const float* id = instances.defined() ? instances.data() : nullptr;
  for (int64_t i = 0; id && i < instances.numel(); ++i)
    count = std::max<int64_t>(count, std::llround(id[i]));
  write_picture(path, image, instances, Overlay{true}, title, [&](cairo_t* cr, double x, double y) {
    for (int k = 0; k < 3; ++k) {  // three swatches: objects have colours of their own
      auto c = instance_colour(k + 1);
      cairo_set_source_rgb(cr, c[0], c[1], c[2]);
      cairo_rectangle(cr, x + 6 * k, y - 10, 5, 10);
      cairo_fill(cr);
    }
    cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
    cairo_move_to(cr, x + 22, y);
    std::string text = std::to_string(count) + " " + object_name + " objects";
    cairo_show_text(cr, text.c_str());
  });
}

}  // namespace useg
