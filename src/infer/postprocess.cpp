// `--postprocess` steps: parsing the user's text and running the steps (the ITK work is in
// src/imaging/components.cpp).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "useg/error.h"
#include "useg/labels.h"
#include "useg/segment.h"

namespace useg {

std::string postprocess_syntax() {
  return "largest | largest=K1+K2 (those classes only) | min-size=N<vox|mm3|mm2> (e.g. "
         "min-size=100vox, min-size=50mm3) | "
         "fill-holes; several steps separated by commas or given as repeated --postprocess, "
         "run in that order; none = no steps";
}

namespace {

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

PostprocessStep parse_step(const std::string& text) {
  PostprocessStep st;
  st.text = text;
  if (text == "largest") return st.kind = PostprocessStep::Kind::Largest, st;
  const std::string largest = "largest=";
  if (text.rfind(largest, 0) == 0) {
    st.kind = PostprocessStep::Kind::Largest;
    std::stringstream ss(text.substr(largest.size()));
    std::string k;
    while (std::getline(ss, k, '+')) {
      char* end = nullptr;
      const long v = k.empty() ? 0 : std::strtol(k.c_str(), &end, 10);
      if (k.empty() || *end != '\0' || v < 1 || v > 65535 ||
          std::find(st.classes.begin(), st.classes.end(), int(v)) != st.classes.end())
        USEG_THROW("--postprocess: bad value '"
                   << text << "': largest= needs foreground class indices (1, 2, ...) joined "
                              "by '+', each once, e.g. largest=1+3");
      st.classes.push_back(int(v));
    }
    if (st.classes.empty() || text.back() == '+')
      USEG_THROW("--postprocess: bad value '" << text << "': largest= needs foreground class "
                                                 "indices joined by '+', e.g. largest=1+3");
    return st;
  }
  if (text == "fill-holes") return st.kind = PostprocessStep::Kind::FillHoles, st;
  const std::string prefix = "min-size=";
  if (text.rfind(prefix, 0) == 0) {
    std::string v = text.substr(prefix.size());
    size_t u = 0;
    while (u < v.size() && (std::isdigit(static_cast<unsigned char>(v[u])) || v[u] == '.')) ++u;
    std::string number = v.substr(0, u), unit = v.substr(u);
    char* end = nullptr;
    double n = number.empty() ? -1 : std::strtod(number.c_str(), &end);
    bool number_ok = !number.empty() && end && *end == '\0' && std::isfinite(n) && n > 0;
    if (!number_ok || (unit != "vox" && unit != "mm3" && unit != "mm2"))
      USEG_THROW("--postprocess: bad value '"
                 << text << "': min-size needs a positive number and a unit vox, mm3 or mm2, "
                            "e.g. min-size=100vox or min-size=50mm3");
    st.kind = PostprocessStep::Kind::MinSize;
    st.min_size = n;
    st.unit = unit;
    return st;
  }
  USEG_THROW("--postprocess: unknown step '" << text << "' (valid: " << postprocess_syntax()
                                             << ")");
}

std::string join_items(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ",") + s;
  return out;
}

}  // namespace

std::vector<PostprocessStep> parse_postprocess(const std::vector<std::string>& items) {
  if (items.size() == 1 && trim(items[0]) == "none") return {};
  std::vector<PostprocessStep> steps;
  for (const std::string& item : items) {
    std::stringstream ss(item);
    std::string part;
    bool any = false;
    while (std::getline(ss, part, ',')) {
      part = trim(part);
      if (part.empty()) continue;
      if (part == "none")
        USEG_THROW("--postprocess: 'none' cannot be combined with other steps (got '"
                   << join_items(items) << "')");
      steps.push_back(parse_step(part));
      any = true;
    }
    if (!any)
      USEG_THROW("--postprocess: empty value '" << item << "' (valid: " << postprocess_syntax()
                                                << ")");
  }
  return steps;
}

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
