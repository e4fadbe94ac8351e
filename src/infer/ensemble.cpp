// Ensembles of model folders for `useg segment` (segment.h): which folders, and whether they can
// be averaged.
#include <algorithm>
#include <filesystem>
#include <sstream>

#include "useg/error.h"
#include "useg/segment.h"

namespace fs = std::filesystem;

namespace useg {

std::vector<std::string> fold_folders(const std::string& dir, const std::string& marker) {
  std::vector<std::pair<long, std::string>> folds;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("fold_", 0) != 0 || name.size() == 5) continue;
    if (name.find_first_not_of("0123456789", 5) != std::string::npos) continue;
    if (!fs::exists(e.path() / marker, ec)) continue;
    folds.emplace_back(std::stol(name.substr(5)), e.path().string());
  }
  std::sort(folds.begin(), folds.end());
  std::vector<std::string> out;
  for (const auto& f : folds) out.push_back(f.second);
  return out;
}

std::vector<std::string> resolve_model_dirs(const std::vector<std::string>& given) {
  std::vector<std::string> out;
  for (const std::string& dir : given) {
    std::error_code ec;
    if (fs::exists(fs::path(dir) / "model.json", ec) || !fs::is_directory(dir, ec)) {
      out.push_back(dir);  // a model folder (or a missing one: loading it says so)
      continue;
    }
    const std::vector<std::string> folds = fold_folders(dir, "best/model.json");
    USEG_REQUIRE(!folds.empty(), "model folder " << dir
                                                 << " has no model.json and no fold_*/best/ model "
                                                    "folders (a cross-validation's run folders)");
    for (const std::string& f : folds) out.push_back((fs::path(f) / "best").string());
  }
  return out;
}

namespace {

template <class T>
std::string list(const std::vector<T>& v) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  os << "]";
  return os.str();
}

std::string channel_text(const ChannelNorm& c) {
  std::ostringstream os;
  os.precision(10);
  os << c.name << " " << intensity_scheme_name(c.scheme);
  if (c.scheme == IntensityScheme::CT)
    os << " clip [" << c.clip_low << ", " << c.clip_high << "] mean " << c.mean << " std " << c.std;
  if (c.scheme == IntensityScheme::Percentile)
    os << " percentiles [" << c.percentile_low << ", " << c.percentile_high << "]";
  return os.str();
}

}  // namespace

namespace {

// Appends "what x vs y" to `d` when x and y differ.
struct Differences {
  std::vector<std::string> d;
  void operator()(const std::string& what, const std::string& x, const std::string& y) {
    if (x != y) d.push_back(what + " " + x + " vs " + y);
  }
  std::string text() const {
    std::string out;
    for (size_t i = 0; i < d.size(); ++i) out += (i ? "; " : "") + d[i];
    return out;
  }
};

void output_differences(const ModelInfo& a, const ModelInfo& b, Differences& differ) {
  differ("model.num_classes", std::to_string(a.model.num_classes),
         std::to_string(b.model.num_classes));
  differ("labels", list(a.labels), list(b.labels));
  differ("target", a.target, b.target);
  differ("model.in_channels", std::to_string(a.model.in_channels),
         std::to_string(b.model.in_channels));
  if (a.instance_target() && b.instance_target())
    differ("instances.object", a.instances.object, b.instances.object);
}

}  // namespace

std::string output_difference(const ModelInfo& a, const ModelInfo& b) {
  Differences differ;
  output_differences(a, b, differ);
  return differ.text();
}

std::string ensemble_difference(const ModelInfo& a, const ModelInfo& b) {
  Differences differ;
  differ("model.dims", std::to_string(a.model.dims), std::to_string(b.model.dims));
  output_differences(a, b, differ);
  differ("patch_size", list(a.patch_size), list(b.patch_size));
  differ("preprocess.target_spacing", list(a.preprocess.target_spacing),
         list(b.preprocess.target_spacing));
  const size_t n = std::max(a.preprocess.channels.size(), b.preprocess.channels.size());
  for (size_t i = 0; i < n; ++i) {
    std::string x = i < a.preprocess.channels.size() ? channel_text(a.preprocess.channels[i]) : "(default)";
    std::string y = i < b.preprocess.channels.size() ? channel_text(b.preprocess.channels[i]) : "(default)";
    differ("preprocess.channels[" + std::to_string(i) + "]", x, y);
  }
  return differ.text();
}

std::vector<std::vector<size_t>> group_models(const std::vector<ModelInfo>& infos,
                                              const std::vector<std::string>& dirs) {
  USEG_REQUIRE(infos.size() == dirs.size(),
               "group_models: " << infos.size() << " models, " << dirs.size() << " folders");
  std::vector<std::vector<size_t>> groups;
  for (size_t i = 0; i < infos.size(); ++i) {
    const std::string diff = i ? output_difference(infos[0], infos[i]) : "";
    USEG_REQUIRE(diff.empty(), "models " << dirs[0] << " and " << dirs[i]
                                         << " cannot be ensembled (their probabilities are "
                                            "averaged, so classes and channels must agree): "
                                         << diff);
    auto g = std::find_if(groups.begin(), groups.end(), [&](const std::vector<size_t>& m) {
      return ensemble_difference(infos[m.front()], infos[i]).empty();
    });
    if (g == groups.end())
      groups.push_back({i});
    else
      g->push_back(i);
  }
  return groups;
}

}  // namespace useg
