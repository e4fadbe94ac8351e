#include "plot/curves.h"

#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "useg/error.h"
#include "core/files.h"

namespace useg::plot {

namespace {

struct Rgb {
  double r, g, b;
};
// Matplotlib's tab10: distinct and readable for colour-blind viewers in its first entries.
const Rgb kPalette[] = {{0.12, 0.47, 0.71}, {1.00, 0.50, 0.05}, {0.17, 0.63, 0.17},
                        {0.84, 0.15, 0.16}, {0.58, 0.40, 0.74}, {0.55, 0.34, 0.29},
                        {0.89, 0.47, 0.76}, {0.50, 0.50, 0.50}, {0.74, 0.74, 0.13},
                        {0.09, 0.75, 0.81}};

struct Box {
  double x0, y0, x1, y1;  // device pixels, y0 = top
};

// Enough decimals to tell ticks `step` apart (0.25 -> 2 decimals, 0.2 -> 1, 5 -> 0).
std::string tick_label(double v, double step) {
  int decimals = 0;
  while (decimals < 8) {
    double scaled = step * std::pow(10.0, decimals);
    if (std::fabs(scaled - std::round(scaled)) < 1e-6 * std::max(1.0, scaled)) break;
    ++decimals;
  }
  char b[32];
  if (v != 0 && (std::fabs(v) < 1e-4 || std::fabs(v) >= 1e6))
    std::snprintf(b, sizeof b, "%.2g", v);
  else
    std::snprintf(b, sizeof b, "%.*f", decimals, v);
  return b;
}

void text(cairo_t* cr, double x, double y, const std::string& s, double ax, double ay,
          double size, bool bold = false, double angle = 0) {
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  cairo_save(cr);
  cairo_translate(cr, x, y);
  cairo_rotate(cr, angle);
  cairo_move_to(cr, -e.x_bearing - ax * e.width, -e.y_bearing - ay * e.height);
  cairo_show_text(cr, s.c_str());
  cairo_restore(cr);
}

// One panel: frame, grid, ticks, labels, the series and a legend.
void panel(cairo_t* cr, const Box& b, const std::vector<Series>& series, double xlo, double xhi,
           double ylo, double yhi, const std::string& ylabel, const std::string& heading,
           size_t colour_offset, bool legend_at_bottom, int marker_x = 0,
           const std::string& marker_label = "") {
  auto px = [&](double x) { return b.x0 + (x - xlo) / (xhi - xlo) * (b.x1 - b.x0); };
  auto py = [&](double y) { return b.y1 - (y - ylo) / (yhi - ylo) * (b.y1 - b.y0); };
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_rectangle(cr, b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0);
  cairo_fill(cr);
  // Grid and ticks.
  std::vector<double> xt = nice_ticks(xlo, xhi, 8, 1.0), yt = nice_ticks(ylo, yhi, 6);
  double xstep = xt.size() > 1 ? xt[1] - xt[0] : 1, ystep = yt.size() > 1 ? yt[1] - yt[0] : 1;
  cairo_set_line_width(cr, 1);
  for (double x : xt) {
    cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
    cairo_move_to(cr, std::round(px(x)) + 0.5, b.y0);
    cairo_line_to(cr, std::round(px(x)) + 0.5, b.y1);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    cairo_move_to(cr, std::round(px(x)) + 0.5, b.y1);
    cairo_line_to(cr, std::round(px(x)) + 0.5, b.y1 + 5);
    cairo_stroke(cr);
    text(cr, px(x), b.y1 + 8, tick_label(x, xstep), 0.5, 0, 12);
  }
  for (double y : yt) {
    cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
    cairo_move_to(cr, b.x0, std::round(py(y)) + 0.5);
    cairo_line_to(cr, b.x1, std::round(py(y)) + 0.5);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    cairo_move_to(cr, b.x0 - 5, std::round(py(y)) + 0.5);
    cairo_line_to(cr, b.x0, std::round(py(y)) + 0.5);
    cairo_stroke(cr);
    text(cr, b.x0 - 8, py(y), tick_label(y, ystep), 1, 0.5, 12);
  }
  cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
  cairo_rectangle(cr, b.x0 + 0.5, b.y0 + 0.5, b.x1 - b.x0 - 1, b.y1 - b.y0 - 1);
  cairo_stroke(cr);
  text(cr, b.x0 - 62, (b.y0 + b.y1) / 2, ylabel, 0.5, 0.5, 14, false, -M_PI / 2);
  text(cr, b.x0, b.y0 - 8, heading, 0, 1, 15, true);

  // Series, clipped to the frame.
  bool any = false;
  cairo_save(cr);
  cairo_rectangle(cr, b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0);
  cairo_clip(cr);
  for (size_t i = 0; i < series.size(); ++i) {
    const Series& s = series[i];
    const Rgb& c = kPalette[(i + colour_offset) % 10];
    cairo_set_source_rgb(cr, c.r, c.g, c.b);
    cairo_set_line_width(cr, 2);
    for (size_t k = 0; k < s.x.size(); ++k) {
      if (k == 0) cairo_move_to(cr, px(s.x[k]), py(s.y[k]));
      else cairo_line_to(cr, px(s.x[k]), py(s.y[k]));
    }
    cairo_stroke(cr);
    if (s.x.size() <= 60)
      for (size_t k = 0; k < s.x.size(); ++k) {
        cairo_arc(cr, px(s.x[k]), py(s.y[k]), 3, 0, 2 * M_PI);
        cairo_fill(cr);
      }
    any = any || !s.x.empty();
  }
  if (marker_x > 0) {
    double mx = std::round(px(marker_x)) + 0.5;
    const double dash[] = {5, 4};
    cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
    cairo_set_line_width(cr, 1);
    cairo_set_dash(cr, dash, 2, 0);
    cairo_move_to(cr, mx, b.y0);
    cairo_line_to(cr, mx, b.y1);
    cairo_stroke(cr);
    cairo_set_dash(cr, nullptr, 0, 0);
  }
  cairo_restore(cr);
  if (marker_x > 0) {  // in the heading row, right-aligned: never over a curve
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    text(cr, b.x1, b.y0 - 8, "- - " + marker_label, 1, 1, 13);
  }
  if (!any) {
    cairo_set_source_rgb(cr, 0.5, 0.5, 0.5);
    text(cr, (b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2, "no data yet", 0.5, 0.5, 14);
  }
  // Legend, top right inside the frame.
  if (series.empty()) return;
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, 12);
  double wmax = 0;
  for (const Series& s : series) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, s.name.c_str(), &e);
    wmax = std::max(wmax, e.x_advance);
  }
  double lw = wmax + 44, lh = 18.0 * series.size() + 8;
  double lx = b.x1 - lw - 10, ly = legend_at_bottom ? b.y1 - lh - 10 : b.y0 + 10;
  cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
  cairo_rectangle(cr, lx, ly, lw, lh);
  cairo_fill_preserve(cr);
  cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
  cairo_set_line_width(cr, 1);
  cairo_stroke(cr);
  for (size_t i = 0; i < series.size(); ++i) {
    const Rgb& c = kPalette[(i + colour_offset) % 10];
    double yy = ly + 13 + 18.0 * i;
    cairo_set_source_rgb(cr, c.r, c.g, c.b);
    cairo_set_line_width(cr, 2);
    cairo_move_to(cr, lx + 8, yy);
    cairo_line_to(cr, lx + 30, yy);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    text(cr, lx + 36, yy, series[i].name, 0, 0.5, 12);
  }
}

cairo_status_t append_png(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target, double min_step) {
  if (!(hi > lo)) return {lo};
  double raw = std::max((hi - lo) / std::max(1, target), min_step);
  int e = static_cast<int>(std::floor(std::log10(raw)));
  double mag = std::pow(10.0, e), m = 10;
  for (double c : {1.0, 2.0, 2.5, 5.0})
    if (c * mag >= raw * (1 - 1e-12) && !(min_step >= 1 && c == 2.5 && e == 0)) {
      m = c;
      break;
    }
  // Tick k is k * m * 10^e, computed without accumulating rounding errors (0.6, not 0.6000...1).
  auto value = [&](long long k) {
    double km = double(k) * m;
    return e < 0 ? km / std::pow(10.0, -e) : km * std::pow(10.0, e);
  };
  const double step = m * mag;
  std::vector<double> t;
  for (long long k = static_cast<long long>(std::ceil(lo / step - 1e-9));
       value(k) <= hi + step * 1e-9; ++k)
    t.push_back(k == 0 ? 0.0 : value(k));
  return t;
}

std::string render_training_curves(const std::vector<Series>& loss,
                                   const std::vector<Series>& dice, const std::string& title,
                                   int best_epoch, double best_dice, int width, int height) {
  double xmax = 1, lmin = std::numeric_limits<double>::infinity(), lmax = -lmin;
  for (const auto* group : {&loss, &dice})
    for (const Series& s : *group)
      for (double x : s.x) xmax = std::max(xmax, x);
  for (const Series& s : loss)
    for (double y : s.y)
      if (std::isfinite(y)) lmin = std::min(lmin, y), lmax = std::max(lmax, y);
  if (!std::isfinite(lmin)) lmin = 0, lmax = 1;
  double pad = std::max((lmax - lmin) * 0.08, std::max(std::fabs(lmax), 1e-3) * 0.02);
  double ylo = lmin - pad, yhi = lmax + pad;
  if (lmin >= 0 && ylo < 0) ylo = 0;
  double xlo = 0.5, xhi = xmax + 0.5;
  if (xmax >= 10) xlo = 0, xhi = xmax * 1.02;

  cairo_surface_t* surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
  cairo_t* cr = cairo_create(surface);
  cairo_set_source_rgb(cr, 0.97, 0.97, 0.97);
  cairo_paint(cr);
  cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
  text(cr, width / 2.0, 14, "useg train: " + title, 0.5, 0, 17, true);
  const double left = 100, right = width - 30.0;
  const double gap = 70, top = 78, bottom = height - 60.0;
  const double ph = (bottom - top - gap) / 2;
  Box upper{left, top, right, top + ph}, lower{left, top + ph + gap, right, bottom};
  // Loss falls and Dice rises: legends go where the curves are not.
  panel(cr, upper, loss, xlo, xhi, ylo, yhi, "loss", "Training loss (mean per epoch)", 0, false);
  char best[64];
  std::snprintf(best, sizeof best, "best mean Dice %.4f at epoch %d", best_dice, best_epoch);
  panel(cr, lower, dice, xlo, xhi, 0, 1, "Dice", "Validation Dice (sliding window, whole cases)",
        1, true, best_epoch, best);
  cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
  text(cr, (left + right) / 2, height - 22.0, "epoch", 0.5, 0.5, 14);
  std::string png;
  cairo_status_t st = cairo_surface_write_to_png_stream(surface, append_png, &png);
  cairo_destroy(cr);
  cairo_surface_destroy(surface);
  USEG_CHECK(st == CAIRO_STATUS_SUCCESS, "cannot render the training curves: "
                                             << cairo_status_to_string(st));
  return png;
}

void write_training_curves(const std::string& path, const std::vector<Series>& loss,
                           const std::vector<Series>& dice, const std::string& title,
                           int best_epoch, double best_dice) {
  write_file_atomic(path, render_training_curves(loss, dice, title, best_epoch, best_dice));
}

}  // namespace useg::plot
