// scan_dataset: the nnU-Net v2 raw layout, checked from file names and image headers only.
#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "io/image_checks.h"
#include "io/io_common.h"
#include "train/dataset.h"
#include "useg/error.h"
#include "core/files.h"
#include "util/channel_names.h"

namespace fs = std::filesystem;

namespace useg {

int Dataset::classes() const {
  return meta.instances ? 3 : static_cast<int>(meta.labels.size());
}

std::vector<std::string> Dataset::class_names() const {
  std::vector<std::string> out;
  if (meta.instances) {
    const std::string& object = meta.labels.at(1).first;
    return {meta.labels.at(0).first, object + "_interior", object + "_boundary"};
  }
  for (const auto& [name, value] : meta.labels) out.push_back(name);
  return out;
}

std::vector<int> Dataset::class_values() const {
  std::vector<int> out;
  if (meta.instances) return {0, 1, 2};
  for (const auto& [name, value] : meta.labels) out.push_back(value);
  return out;
}

const DatasetCase* Dataset::find(const std::string& name) const {
  auto it = std::lower_bound(cases.begin(), cases.end(), name,
                             [](const DatasetCase& c, const std::string& n) { return c.name < n; });
  return it != cases.end() && it->name == name ? &*it : nullptr;
}

bool Dataset::remapped() const {
  if (meta.instances) return false;
  for (size_t k = 0; k < meta.labels.size(); ++k)
    if (meta.labels[k].second != static_cast<int>(k)) return true;
  return false;
}

namespace {

// Tolerance for image/label geometry: relative 1e-4 (labels written by other tools often differ
// from their image in the 6th or 7th digit of the direction cosines).
constexpr double kGeometryTol = 1e-4;
constexpr size_t kMaxListed = 20;

bool ends_with(const std::string& s, const std::string& e) {
  return s.size() > e.size() && s.compare(s.size() - e.size(), e.size(), e) == 0;
}

// Non-hidden regular files of `dir` whose names end with `ending`, sorted.
std::vector<std::string> files_with_ending(const fs::path& dir, const std::string& ending) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.empty() || name[0] == '.' || !ends_with(name, ending)) continue;
    out.push_back(name);
  }
  if (ec) USEG_THROW("cannot list " << dir.string() << ": " << ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

std::string join_problems(const std::vector<std::string>& problems) {
  std::ostringstream os;
  for (size_t i = 0; i < problems.size() && i < kMaxListed; ++i) os << "\n  - " << problems[i];
  if (problems.size() > kMaxListed)
    os << "\n  ... and " << problems.size() - kMaxListed << " more";
  return os.str();
}

std::string channel_list(const std::vector<std::string>& names) {
  std::ostringstream os;
  for (size_t i = 0; i < names.size(); ++i) os << (i ? ", " : "") << names[i];
  return os.str();
}

// Header checks of one case: channel files agree with each other, the channel count matches
// dataset.json, and the label matches the image in size and geometry.
void check_case_headers(const DatasetCase& c, const Dataset& d, DatasetCase& out,
                        std::vector<std::string>& problems) {
  // The resource guard runs first: a case too big for the limits is one problem, named by its
  // first image file, and its geometry is not compared further.
  std::vector<ImageInfo> infos;
  int total = 0;
  for (const std::string& f : c.images) {
    infos.push_back(read_image_info(f));
    total += infos.back().components;
  }
  const Geometry& g = infos.front().geometry;
  try {
    io::check_read_limits(c.images.front(), g, total, d.limits);
  } catch (const Error& e) {
    problems.push_back("case " + c.name + ": " + e.what());
    return;
  }
  for (size_t i = 1; i < infos.size(); ++i) {
    std::string diff = geometry_difference(g, infos[i].geometry, kGeometryTol);
    if (!diff.empty())
      problems.push_back("case " + c.name + ": channel files " +
                         fs::path(c.images[0]).filename().string() + " and " +
                         fs::path(c.images[i]).filename().string() + " differ: " + diff);
  }
  if (total != d.channels())
    problems.push_back("case " + c.name + ": " + std::to_string(total) + " channel(s) in " +
                       std::to_string(c.images.size()) + " file(s), dataset.json declares " +
                       std::to_string(d.channels()) + " (" + channel_list(d.meta.channel_names) +
                       ")");
  ImageInfo li = read_image_info(c.label);
  try {
    io::check_read_limits(c.label, li.geometry, li.components, d.limits);
  } catch (const Error& e) {
    problems.push_back("case " + c.name + ": " + e.what());
    return;
  }
  if (li.components != 1)
    problems.push_back("case " + c.name + ": label " + fs::path(c.label).filename().string() +
                       " has " + std::to_string(li.components) +
                       " components per voxel, expected 1 (a label map)");
  const Geometry& lg = li.geometry;
  if (lg.size != g.size) {
    std::ostringstream os;
    os << "case " << c.name << ": image and label sizes differ (image " << g.size[0] << "x"
       << g.size[1] << "x" << g.size[2] << ", label " << lg.size[0] << "x" << lg.size[1] << "x"
       << lg.size[2] << ")";
    problems.push_back(os.str());
  } else {
    std::string diff = geometry_difference(g, lg, kGeometryTol);
    if (!diff.empty())
      problems.push_back("case " + c.name + ": image and label geometry differ (image vs label: " +
                         diff + ")");
  }
  out.geometry = g;
}

}  // namespace

Dataset scan_dataset(const std::string& dir, const ReadLimits& limits) {
  fs::path root(dir);
  std::error_code ec;
  USEG_REQUIRE(fs::is_directory(root, ec), "dataset folder " << dir << " does not exist");
  fs::path json_path = root / "dataset.json";
  USEG_REQUIRE(fs::exists(json_path, ec), dir << " has no dataset.json (expected an nnU-Net v2 raw "
                                                 "dataset: dataset.json, "
                                                 "imagesTr/, labelsTr/)");
  Dataset d;
  d.dir = dir;
  d.limits = limits;
  // A dataset.json is a few hundred bytes; a huge one is a wrong file, refused unread.
  const auto json_bytes = fs::file_size(json_path, ec);
  if (!ec && json_bytes > uintmax_t(kMaxDatasetJsonBytes))
    USEG_THROW("cannot read " << json_path.string() << ": it is " << json_bytes
                              << " bytes, more than the limit of " << kMaxDatasetJsonBytes
                              << " bytes for a dataset.json (is it the right file?)");
  d.meta = parse_dataset_json(read_file(json_path.string()), json_path.string());
  const std::string& ending = d.meta.file_ending;
  fs::path images_dir = root / "imagesTr", labels_dir = root / "labelsTr";
  USEG_REQUIRE(fs::is_directory(images_dir, ec), dir << " has no imagesTr/ folder");
  USEG_REQUIRE(fs::is_directory(labels_dir, ec), dir << " has no labelsTr/ folder");

  std::vector<std::string> problems;
  std::map<std::string, std::map<int, std::string>> channel_files;  // case -> index -> path
  for (const std::string& name : files_with_ending(images_dir, ending)) {
    std::string case_name;
    int channel = 0;
    if (!parse_channel_stem(name.substr(0, name.size() - ending.size()), &case_name, &channel)) {
      problems.push_back("imagesTr/" + name + ": not named CASE_XXXX" + ending +
                         " (XXXX = 4-digit channel index, e.g. _0000)");
      continue;
    }
    channel_files[case_name][channel] = (images_dir / name).string();
  }
  std::set<std::string> label_cases;
  for (const std::string& name : files_with_ending(labels_dir, ending))
    label_cases.insert(name.substr(0, name.size() - ending.size()));

  for (const auto& [name, files] : channel_files) {
    DatasetCase c;
    c.name = name;
    std::vector<int> indices;
    for (const auto& [i, f] : files) {
      indices.push_back(i);
      c.images.push_back(f);
    }
    const std::string gap = channel_gap_problem(indices);
    if (!gap.empty()) {
      problems.push_back("case " + name + ": " + gap);
      continue;
    }
    if (!label_cases.count(name)) {
      problems.push_back("case " + name + ": missing label labelsTr/" + name + ending);
      continue;
    }
    c.label = (labels_dir / (name + ending)).string();
    try {
      check_case_headers(c, d, c, problems);
    } catch (const Error& e) {
      problems.push_back("case " + name + ": " + e.what());
      continue;
    }
    d.cases.push_back(std::move(c));
  }
  for (const std::string& name : label_cases)
    if (!channel_files.count(name))
      problems.push_back("labelsTr/" + name + ending + " has no images (expected imagesTr/" +
                         name + "_0000" + ending + ")");
  if (!problems.empty())
    USEG_THROW("dataset " << dir << ": " << problems.size() << " problem(s):"
                          << join_problems(problems));
  if (d.cases.empty())
    USEG_THROW("dataset " << dir << " is empty: no training cases in imagesTr/ (expected files "
                             "named CASE_0000" << ending << " with labels labelsTr/CASE"
                          << ending << ")");
  if (static_cast<int>(d.cases.size()) != d.meta.num_training)
    USEG_THROW("dataset " << dir << ": dataset.json says numTraining " << d.meta.num_training
                          << " but " << d.cases.size()
                          << " complete case(s) were found in imagesTr/ and labelsTr/ (is a "
                             "copy incomplete? otherwise set numTraining to "
                          << d.cases.size() << ")");
  return d;
}

}  // namespace useg
