// Postprocessing steps as text ("largest", "largest=1+3", "min-size=100vox", "fill-holes"):
// parsed here for `useg segment --postprocess` and model.json's inference.postprocess alike
// (config and segment both read them; applying them is src/infer/postprocess.cpp).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "useg/error.h"
#include "useg/segment.h"

namespace useg {

std::string postprocess_syntax() {
  return "largest | largest=K1+K2 (those classes only) | largest-foreground (all classes as one "
         "region) | min-size=N<vox|mm3|mm2> (e.g. "
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
  if (text == "largest-foreground") return st.kind = PostprocessStep::Kind::LargestForeground, st;
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

}  // namespace useg
