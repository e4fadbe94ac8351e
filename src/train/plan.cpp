// Dataset fingerprint -> model.json's preprocessing (target spacing, per-channel normalization)
// and labels.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>

#include "util/stats.h"
#include "train/data.h"
#include "train/rng.h"
#include "useg/metrics.h"
#include "useg/error.h"
#include "useg/image.h"
#include "useg/infer.h"

namespace fs = std::filesystem;

namespace useg::training {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

IntensityScheme scheme_named(const std::string& n) {
  if (n == "zscore") return IntensityScheme::ZScore;
  if (n == "ct") return IntensityScheme::CT;
  if (n == "percentile") return IntensityScheme::Percentile;
  if (n == "none") return IntensityScheme::None;
  USEG_THROW("train.normalization '" << n << "' is not one of auto, zscore, ct, percentile, none");
}

// Foreground intensities of the CT channels (nnU-Net's fingerprint): up to 10000 voxels per case
// drawn with replacement from the voxels whose label is not background, at native resolution.
std::vector<std::vector<float>> foreground_samples(const Dataset& ds,
                                                   const std::vector<int>& channels,
                                                   uint64_t seed) {
  constexpr int64_t kPerCase = 10000;
  std::vector<int> lookup = label_lookup(ds);
  std::vector<std::vector<float>> out(channels.size());
  std::vector<std::string> problems;
  for (size_t ci = 0; ci < ds.cases.size(); ++ci) {
    const DatasetCase& c = ds.cases[ci];
    Image img = read_image_channels(c.images);
    Image lab = read_image(c.label);
    std::string p = ds.meta.instances ? check_instance_ids(lab.voxels, c.name)
                                      : map_labels(lab.voxels, lookup, ds, c.name);
    if (!p.empty()) {
      problems.push_back(p);
      continue;
    }
    const float* l = lab.voxels.data();
    std::vector<int64_t> fg;
    for (int64_t i = 0; i < lab.voxels.numel(); ++i)
      if (l[i] > 0.5f) fg.push_back(i);
    if (fg.empty()) continue;
    Rng rng(seed, Stream::Fingerprint, {ci});
    int64_t vox = img.voxels.shape().spatial();
    for (size_t k = 0; k < channels.size(); ++k) {
      const float* src = img.voxels.data() + channels[k] * vox;
      for (int64_t s = 0; s < kPerCase; ++s)
        out[k].push_back(src[fg[static_cast<size_t>(rng.below(int64_t(fg.size())))]]);
    }
  }
  if (!problems.empty()) {
    std::ostringstream os;
    for (const auto& p : problems) os << "\n  - " << p;
    USEG_THROW("dataset " << ds.dir << ": label problems:" << os.str());
  }
  return out;
}

}  // namespace

IntensityScheme auto_scheme(const std::string& channel_name) {
  std::string n = lower(channel_name);
  if (n == "ct") return IntensityScheme::CT;
  if (n == "nonorm") return IntensityScheme::None;
  return IntensityScheme::ZScore;
}

std::vector<double> median_spacing(const Dataset& ds, int dims) {
  // Geometry spacing is (x, y, z); the model's order is [D, H, W] = (z, y, x).
  std::vector<int> axes = dims == 3 ? std::vector<int>{2, 1, 0} : std::vector<int>{1, 0};
  std::vector<double> out;
  for (int a : axes) {
    std::vector<float> v;
    for (const DatasetCase& c : ds.cases) v.push_back(static_cast<float>(c.geometry.spacing[a]));
    out.push_back(percentile(v, 50.0));
  }
  return out;
}

ModelInfo plan_model_info(const RunConfig& run, const Dataset& ds, uint64_t seed,
                          const std::function<void(const std::string&)>& log) {
  const ModelConfig& m = run.model;
  const TrainConfig& t = run.train;
  USEG_REQUIRE(m.in_channels == ds.channels(), "the config has model.in_channels "
                                                   << m.in_channels << " but dataset.json declares "
                                                   << ds.channels()
                                                   << " channel(s); set "
                                                      "model.in_channels to "
                                                   << ds.channels());
  USEG_REQUIRE(
      m.num_classes == ds.classes(),
      "the config has model.num_classes "
          << m.num_classes << " but dataset.json declares "
          << (ds.meta.instances ? "an instance dataset (\"instances\": true), which "
                                  "trains 3 classes (background, interior, boundary)"
                                : std::to_string(ds.classes()) + " labels (background included)")
          << "; set model.num_classes to " << ds.classes());
  if (m.dims == 3)
    for (const DatasetCase& c : ds.cases)
      USEG_REQUIRE(c.geometry.dims == 3 && c.geometry.size[2] > 1,
                   "the model is 3D but case " << c.name << " is a 2D image; use a 2D model");
  ModelInfo info;
  info.model = m;
  info.patch_size = t.patch_size;
  info.labels = ds.class_names();
  info.inference = run.inference;
  if (ds.meta.instances) {
    info.target = "instances";
    info.instances = t.instances;
    info.instances.object = ds.meta.labels.at(1).first;
    info.instances.diameter = median_object_diameter(ds);
    std::ostringstream d;
    d << info.instances.diameter;
    log("instance dataset: objects '" + info.instances.object +
        "' -> classes background, interior, boundary (boundary width " +
        std::to_string(t.instances.boundary_width) + " voxels); median object diameter " +
        d.str() + " mm (instances.diameter)");
  }

  std::ostringstream os;
  auto fmt = [](const std::vector<double>& v) {
    std::ostringstream s;
    s << "[";
    for (size_t i = 0; i < v.size(); ++i) s << (i ? ", " : "") << v[i];
    s << "]";
    return s.str();
  };
  if (!t.target_spacing_mm.empty()) {
    info.preprocess.target_spacing = t.target_spacing_mm;
    log("target spacing " + fmt(t.target_spacing_mm) + " mm (train.target_spacing_mm)");
  } else if (t.target_spacing == "auto") {
    info.preprocess.target_spacing = median_spacing(ds, m.dims);
    log("target spacing " + fmt(info.preprocess.target_spacing) +
        " mm (median of the dataset)");
  } else {
    log("target spacing: native (each image keeps its own spacing)");
  }

  std::vector<int> ct_channels;
  for (int c = 0; c < ds.channels(); ++c) {
    ChannelNorm ch;
    ch.name = ds.meta.channel_names[static_cast<size_t>(c)];
    ch.scheme = t.normalization == "auto" ? auto_scheme(ch.name) : scheme_named(t.normalization);
    if (ch.scheme == IntensityScheme::CT) ct_channels.push_back(c);
    info.preprocess.channels.push_back(ch);
  }
  if (!ct_channels.empty()) {
    auto samples = foreground_samples(ds, ct_channels, seed);
    for (size_t k = 0; k < ct_channels.size(); ++k) {
      ChannelNorm& ch = info.preprocess.channels[static_cast<size_t>(ct_channels[k])];
      std::vector<float>& v = samples[k];
      USEG_REQUIRE(!v.empty(), "channel "
                                   << ch.name
                                   << " uses the CT scheme, which needs "
                                      "foreground voxels, but no label in the dataset has any");
      ch.clip_low = percentile(v, 0.5);
      ch.clip_high = percentile(v, 99.5);
      double s = 0, s2 = 0;
      for (float& x : v) {
        double c = std::clamp(double(x), ch.clip_low, ch.clip_high);
        s += c;
        s2 += c * c;
      }
      double n = double(v.size());
      ch.mean = s / n;
      ch.std = std::sqrt(std::max(0.0, s2 / n - ch.mean * ch.mean));
      if (!(ch.std > 0)) ch.std = 1.0;
      if (!(ch.clip_high > ch.clip_low)) ch.clip_high = ch.clip_low + 1.0;
      std::ostringstream line;
      line << "channel " << ch.name << ": ct normalization, clip [" << ch.clip_low << ", "
           << ch.clip_high << "], mean " << ch.mean << ", std " << ch.std << " (" << v.size()
           << " foreground samples)";
      log(line.str());
    }
  }
  for (const ChannelNorm& ch : info.preprocess.channels)
    if (ch.scheme != IntensityScheme::CT)
      log("channel " + ch.name + ": " + intensity_scheme_name(ch.scheme) + " normalization");

  info.provenance["dataset"] = fs::path(ds.dir).lexically_normal().filename().string();
  if (info.provenance["dataset"].empty())
    info.provenance["dataset"] = fs::path(ds.dir).lexically_normal().parent_path().filename().string();
  if (ds.remapped()) {
    std::ostringstream v;
    for (size_t k = 0; k < ds.meta.labels.size(); ++k)
      v << (k ? "," : "") << ds.meta.labels[k].second;
    info.provenance["label_values"] = v.str();
    log("label values " + v.str() + " are not 0.." + std::to_string(ds.classes() - 1) +
        ": the network predicts class indices 0.." + std::to_string(ds.classes() - 1) +
        " (recorded as provenance.label_values)");
  }
  return info;
}

double median_object_diameter(const Dataset& ds) {
  std::vector<double> all;
  for (const DatasetCase& c : ds.cases) {
    const Image lab = read_image(c.label, ds.limits);
    const std::vector<double> d = object_diameters(lab.voxels, lab.geometry);
    all.insert(all.end(), d.begin(), d.end());
  }
  if (all.empty()) return 0;
  std::sort(all.begin(), all.end());
  const size_t n = all.size();
  return n % 2 ? all[n / 2] : 0.5 * (all[n / 2 - 1] + all[n / 2]);
}

}  // namespace useg::training
