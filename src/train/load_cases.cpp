// Loading the training cases: read, check label values, preprocess exactly as segment does,
// bring the labels onto the preprocessed grid (nearest), index the foreground.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "io/image_checks.h"
#include "train/data.h"
#include "train/rng.h"
#include "useg/error.h"
#include "imaging/imaging.h"
#include "useg/infer.h"
#include "useg/labels.h"

namespace useg::training {

Tensor TrainingCase::label_tensor() const {
  Tensor t = Tensor::empty(Shape{1, 1, size[0], size[1], size[2]});
  float* p = t.data();
  for (size_t i = 0; i < label.size(); ++i) p[i] = static_cast<float>(label[i]);
  return t;
}

std::vector<int> label_lookup(const Dataset& ds) {
  int max_value = 0;
  for (const auto& [name, v] : ds.meta.labels) max_value = std::max(max_value, v);
  std::vector<int> lookup(static_cast<size_t>(max_value) + 1, -1);
  for (size_t k = 0; k < ds.meta.labels.size(); ++k)
    lookup[static_cast<size_t>(ds.meta.labels[k].second)] = static_cast<int>(k);
  return lookup;
}

std::string map_labels(Tensor& raw, const std::vector<int>& lookup, const Dataset& ds,
                       const std::string& case_name) {
  float* p = raw.data();
  const int64_t n = raw.numel();
  std::map<double, int64_t> bad;  // value -> voxel count
  for (int64_t i = 0; i < n; ++i) {
    float v = p[i];
    long r = std::isfinite(v) ? std::lround(v) : -1;
    if (std::isfinite(v) && double(r) == double(v) && r >= 0 && r < long(lookup.size()) &&
        lookup[static_cast<size_t>(r)] >= 0) {
      p[i] = static_cast<float>(lookup[static_cast<size_t>(r)]);
    } else {
      ++bad[double(v)];
      p[i] = 0;
    }
  }
  if (bad.empty()) return "";
  std::ostringstream os;
  os << "case " << case_name << ": label values not declared in dataset.json: ";
  size_t i = 0;
  for (const auto& [v, count] : bad) {
    if (i++ == 10) {
      os << ", ... (" << bad.size() << " values in all)";
      break;
    }
    os << (i > 1 ? ", " : "") << v << " (" << count << " voxels)";
  }
  os << "; declared: ";
  for (size_t k = 0; k < ds.meta.labels.size(); ++k)
    os << (k ? ", " : "") << ds.meta.labels[k].first << "=" << ds.meta.labels[k].second;
  return os.str();
}

std::string check_instance_ids(const Tensor& raw, const std::string& case_name) {
  const float* p = raw.data();
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < raw.numel(); ++i) {
    const float v = p[i];
    if (std::isfinite(v) && v >= 0 && v < 16777216.f && v == std::floor(v)) continue;
    if (bad++ == 0) first = i;
  }
  if (bad == 0) return "";
  std::ostringstream os;
  os << "case " << case_name << ": " << bad << " label voxel(s) are not object ids (integers "
     << "0 .. 2^24 - 1 in an instance dataset), the first at voxel " << first << ": "
     << p[first];
  return os.str();
}

namespace {

void index_classes(TrainingCase& tc, int classes, uint64_t seed, uint64_t case_index) {
  tc.class_voxels.assign(static_cast<size_t>(classes), {});
  for (size_t i = 0; i < tc.label.size(); ++i)
    if (tc.label[i] > 0) tc.class_voxels[tc.label[i]].push_back(static_cast<int64_t>(i));
  for (int k = 1; k < classes; ++k) {
    auto& v = tc.class_voxels[static_cast<size_t>(k)];
    if (v.size() <= kMaxClassVoxels) continue;
    // A deterministic subsample without replacement (partial Fisher-Yates).
    Rng rng(seed, Stream::Sample, {~uint64_t(0), case_index, uint64_t(k)});
    for (size_t i = 0; i < kMaxClassVoxels; ++i)
      std::swap(v[i], v[i + static_cast<size_t>(rng.below(int64_t(v.size() - i)))]);
    v.resize(kMaxClassVoxels);
    std::sort(v.begin(), v.end());
  }
}

// "case X: imagesTr/X_0000.nii.gz has 3 NaN or infinite voxels" for each channel file that
// has any (a file holding several channels, e.g. RGB, is named once with their total); "" when
// every voxel is finite. Training refuses such cases: a NaN reaches the loss and every weight.
std::string non_finite_problem(const Dataset& ds, const DatasetCase& c,
                               const std::vector<int64_t>& per_channel) {
  int64_t total = 0;
  for (int64_t n : per_channel) total += n;
  if (total == 0) return "";
  auto rel = [&](const std::string& p) {
    std::string prefix = ds.dir + (ds.dir.empty() || ds.dir.back() == '/' ? "" : "/");
    return p.compare(0, prefix.size(), prefix) == 0 ? p.substr(prefix.size()) : p;
  };
  std::ostringstream os;
  os << "case " << c.name << ": ";
  if (c.images.size() == per_channel.size()) {
    bool first = true;
    for (size_t k = 0; k < per_channel.size(); ++k) {
      if (per_channel[k] == 0) continue;
      os << (first ? "" : ", ") << rel(c.images[k]) << " has " << per_channel[k]
         << " NaN or infinite voxel" << (per_channel[k] == 1 ? "" : "s");
      first = false;
    }
  } else {
    for (size_t k = 0; k < c.images.size(); ++k) os << (k ? " + " : "") << rel(c.images[k]);
    os << " hold " << total << " NaN or infinite voxel" << (total == 1 ? "" : "s");
  }
  os << " (training needs finite intensities: fix or drop the case)";
  return os.str();
}

}  // namespace

std::vector<TrainingCase> load_cases(const Dataset& ds, const ModelInfo& info,
                                     const std::vector<std::string>& names, uint64_t seed,
                                     const std::function<void(int64_t, int64_t)>& progress) {
  std::vector<const DatasetCase*> todo;
  std::vector<uint64_t> index;  // position in the dataset: seeds the foreground subsample
  for (const std::string& n : names) {
    const DatasetCase* c = ds.find(n);
    USEG_REQUIRE(c, "dataset " << ds.dir << " has no case named " << n);
    todo.push_back(c);
    index.push_back(static_cast<uint64_t>(c - ds.cases.data()));
  }
  std::vector<int> lookup = label_lookup(ds);
  std::vector<std::string> problems;
  std::vector<TrainingCase> out;
  for (size_t i = 0; i < todo.size(); ++i) {
    const DatasetCase& c = *todo[i];
    Image img = read_image_channels(c.images, ds.limits);
    std::string bad = non_finite_problem(ds, c, count_non_finite(img));
    if (!bad.empty()) {
      problems.push_back(bad);
      continue;
    }
    Image lab = read_image(c.label, ds.limits);
    std::string p = ds.meta.instances ? check_instance_ids(lab.voxels, c.name)
                                      : map_labels(lab.voxels, lookup, ds, c.name);
    if (!p.empty()) {
      problems.push_back(p);
      continue;
    }
    NetworkInput in = preprocess(img, info);
    TrainingCase tc;
    tc.name = c.name;
    tc.image = in.volume;
    const Shape& s = in.volume.shape();
    tc.size = {s.d(), s.h(), s.w()};
    Tensor lv = lab.voxels;
    if (in.resampled) lv = resample_to_geometry(lab.voxels, lab.geometry, in.geometry, Interp::Nearest);
    USEG_REQUIRE(lv.numel() == s.spatial(), "case " << c.name << ": the resampled label has "
                                                    << lv.numel() << " voxels, the image "
                                                    << s.spatial());
    // Instance ids become background / interior / boundary on the network's grid, so the
    // boundary width is in the voxels the network sees.
    if (ds.meta.instances)
      lv = instance_boundary_target(lv, in.geometry, info.instances.boundary_width);
    tc.label.resize(static_cast<size_t>(lv.numel()));
    const float* lp = lv.data();
    for (size_t k = 0; k < tc.label.size(); ++k)
      tc.label[k] = static_cast<uint8_t>(std::lround(std::max(0.f, lp[k])));
    index_classes(tc, ds.classes(), seed, index[i]);
    out.push_back(std::move(tc));
    if (progress) progress(int64_t(i + 1), int64_t(todo.size()));
  }
  if (!problems.empty()) {
    std::ostringstream os;
    for (size_t k = 0; k < problems.size() && k < 20; ++k) os << "\n  - " << problems[k];
    if (problems.size() > 20) os << "\n  ... and " << problems.size() - 20 << " more";
    USEG_THROW("dataset " << ds.dir << ": " << problems.size() << " problem(s):" << os.str());
  }
  return out;
}

}  // namespace useg::training
