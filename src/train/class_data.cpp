// Classification datasets: scanning (class folders or a CSV) and loading (read, check, normalize,
// resize to the model's input size).
#include "train/class_data.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "util/cases.h"
#include "util/csv.h"
#include "useg/error.h"
#include "core/files.h"
#include "useg/classify.h"

namespace fs = std::filesystem;

namespace useg::training {

namespace {

bool is_integer(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Sorted class names: numerically when they are all integers ("2" before "10").
std::vector<std::string> sorted_classes(std::set<std::string> names) {
  std::vector<std::string> v(names.begin(), names.end());
  if (std::all_of(v.begin(), v.end(), is_integer))
    std::sort(v.begin(), v.end(), [](const std::string& a, const std::string& b) {
      return a.size() != b.size() ? a.size() < b.size() : a < b;
    });
  return v;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  return s.substr(i);
}

struct Scan {
  std::vector<std::pair<ClassItem, std::string>> items;  // item with its class name
  std::vector<std::string> problems;
};

Scan scan_folders(const std::string& dir) {
  Scan s;
  std::vector<fs::path> classes;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && e.path().filename().string()[0] != '.') classes.push_back(e.path());
  std::sort(classes.begin(), classes.end());
  if (classes.empty())
    s.problems.push_back(dir + ": no class folders (expected " + dir +
                         "/<class>/<images>, or a CSV file with columns image,label)");
  for (const fs::path& c : classes) {
    std::vector<std::string> files = list_images(c.string(), /*recursive=*/true);
    if (files.empty())
      s.problems.push_back(c.string() + ": the class folder holds no image");
    for (const std::string& f : files) {
      ClassItem it;
      it.path = f;
      it.name = fs::relative(f, dir).string();
      s.items.emplace_back(it, c.filename().string());
    }
  }
  return s;
}

Scan scan_csv(const std::string& csv) {
  Scan s;
  const std::string text = read_file(csv);
  std::istringstream in(text);
  std::string line;
  int n = 0, image_col = -1, label_col = -1;
  const fs::path base = fs::path(csv).parent_path();
  std::set<std::string> seen;
  while (std::getline(in, line)) {
    ++n;
    if (trim(line).empty()) continue;
    std::vector<std::string> f = csv_split(line);
    if (image_col < 0) {
      for (size_t i = 0; i < f.size(); ++i) {
        if (f[i] == "image") image_col = int(i);
        if (f[i] == "label") label_col = int(i);
      }
      if (image_col < 0 || label_col < 0) {
        s.problems.push_back(csv + ": line 1 must be a header with the columns image and label, "
                                   "got '" + trim(line) + "'");
        return s;
      }
      continue;
    }
    const std::string where = csv + " line " + std::to_string(n);
    if (int(f.size()) <= std::max(image_col, label_col)) {
      s.problems.push_back(where + ": expected the columns image and label, got '" + trim(line) +
                           "'");
      continue;
    }
    ClassItem it;
    it.name = f[image_col];
    it.path = (base / f[image_col]).lexically_normal().string();
    if (f[label_col].empty()) s.problems.push_back(where + ": empty label for " + it.name);
    std::error_code ec;
    if (!fs::exists(it.path, ec)) s.problems.push_back(where + ": " + it.path + " does not exist");
    if (!seen.insert(it.name).second) s.problems.push_back(where + ": " + it.name + " listed twice");
    s.items.emplace_back(it, f[label_col]);
  }
  if (s.items.empty() && s.problems.empty()) s.problems.push_back(csv + ": no rows after the header");
  return s;
}

}  // namespace

ClassDataset scan_class_dataset(const std::string& path, const std::vector<std::string>& classes) {
  std::error_code ec;
  USEG_REQUIRE(fs::exists(path, ec), "classification data " << path
                                                            << " does not exist (expected a "
                                                               "folder of class folders or "
                                                               "a CSV file image,label)");
  const bool csv = fs::is_regular_file(path, ec);
  Scan s = csv ? scan_csv(path) : scan_folders(path);
  ClassDataset ds;
  ds.source = path;
  std::set<std::string> names;
  for (const auto& [it, c] : s.items) names.insert(c);
  ds.classes = classes.empty() ? sorted_classes(names) : classes;
  std::map<std::string, int> index;
  for (size_t k = 0; k < ds.classes.size(); ++k) index[ds.classes[k]] = int(k);
  for (auto& [it, c] : s.items) {
    auto found = index.find(c);
    if (found == index.end()) {
      std::string list;
      for (const std::string& k : ds.classes) list += (list.empty() ? "" : ", ") + k;
      s.problems.push_back(it.path + ": label '" + c + "' is not one of the classes (" + list +
                           ", train.classes)");
      continue;
    }
    it.label = found->second;
    ds.items.push_back(it);
  }
  if (ds.classes.size() < 2 && s.problems.empty())
    s.problems.push_back(path + ": " + std::to_string(ds.classes.size()) +
                         " class(es); a classifier needs at least 2");
  if (!s.problems.empty()) {
    std::ostringstream os;
    os << path << ": " << s.problems.size() << " problem(s) in the classification data:";
    for (size_t i = 0; i < s.problems.size() && i < 20; ++i) os << "\n  " << s.problems[i];
    if (s.problems.size() > 20) os << "\n  ... (" << s.problems.size() - 20 << " more)";
    USEG_THROW(os.str());
  }
  std::sort(ds.items.begin(), ds.items.end(),
            [](const ClassItem& a, const ClassItem& b) { return a.name < b.name; });
  return ds;
}

const ClassItem* ClassDataset::find(const std::string& name) const {
  auto it = std::lower_bound(items.begin(), items.end(), name,
                             [](const ClassItem& c, const std::string& n) { return c.name < n; });
  return it != items.end() && it->name == name ? &*it : nullptr;
}

std::vector<TrainingCase> load_class_items(const ClassDataset& ds, const ModelInfo& info,
                                           const std::vector<std::string>& names,
                                           const std::function<void(int64_t, int64_t)>& progress) {
  std::vector<TrainingCase> out;
  std::vector<std::string> problems;
  for (size_t i = 0; i < names.size(); ++i) {
    const ClassItem* found = ds.find(names[i]);
    USEG_REQUIRE(found, "classification item " << names[i] << " not in " << ds.source);
    const ClassItem& it = *found;
    try {
      TrainingCase c;
      c.name = it.name;
      c.class_index = it.label;
      c.image = classifier_input(read_image(it.path), info);
      const Shape& s = c.image.shape();
      c.size = {s.d(), s.h(), s.w()};
      out.push_back(std::move(c));
    } catch (const Error& e) {
      problems.push_back(e.what());
    }
    if (progress) progress(int64_t(i + 1), int64_t(names.size()));
  }
  if (!problems.empty()) {
    std::ostringstream os;
    os << problems.size() << " image(s) could not be used:";
    for (size_t i = 0; i < problems.size() && i < 20; ++i) os << "\n  " << problems[i];
    USEG_THROW(os.str());
  }
  return out;
}

}  // namespace useg::training
