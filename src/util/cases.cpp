// Cases from file lists (useg/cases.h) and the nnU-Net channel naming (util/channel_names.h).
#include "util/cases.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <map>

#include "useg/error.h"
#include "useg/image.h"
#include "util/channel_names.h"

namespace fs = std::filesystem;

namespace useg {

bool parse_channel_stem(const std::string& stem, std::string* case_name, int* channel) {
  const size_t n = stem.size();
  if (n <= 5 || stem[n - 5] != '_' ||
      !std::all_of(stem.end() - 4, stem.end(), [](unsigned char c) { return std::isdigit(c); }))
    return false;
  *case_name = stem.substr(0, n - 5);
  *channel = std::stoi(stem.substr(n - 4));
  return true;
}

std::string channel_gap_problem(const std::vector<int>& sorted_channels) {
  bool gap = false;
  std::string found;
  for (size_t k = 0; k < sorted_channels.size(); ++k) {
    char b[16];
    std::snprintf(b, sizeof b, "_%04d", sorted_channels[k]);
    found += (k ? ", " : "") + std::string(b);
    gap = gap || sorted_channels[k] != int(k);
  }
  return gap ? "channel files " + found + " do not run _0000, _0001, ... without gaps" : "";
}

std::string image_stem(const std::string& path) {
  std::string name = fs::path(path).filename().string();
  if (name.empty()) name = fs::path(path).parent_path().filename().string();  // "dir/"
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* ext : {".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".tiff", ".tif", ".png"}) {
    std::string e(ext);
    if (lower.size() > e.size() && lower.compare(lower.size() - e.size(), e.size(), e) == 0)
      return name.substr(0, name.size() - e.size());
  }
  return name;
}

std::vector<std::string> list_images(const std::string& dir, bool recursive) {
  std::error_code ec;
  USEG_CHECK(fs::is_directory(dir, ec), dir << " is not a folder");
  std::vector<std::string> out;
  std::vector<fs::path> entries;
  for (const auto& e : fs::directory_iterator(dir, ec)) entries.push_back(e.path());
  USEG_CHECK(!ec, "cannot list " << dir << ": " << ec.message());
  std::sort(entries.begin(), entries.end());
  for (const fs::path& p : entries) {
    std::string name = p.filename().string();
    if (name.empty() || name[0] == '.') continue;
    if (fs::is_directory(p, ec)) {
      if (is_image_path(p.string()))
        out.push_back(p.string());  // a DICOM series folder
      else if (recursive) {
        auto sub = list_images(p.string(), true);
        out.insert(out.end(), sub.begin(), sub.end());
      }
    } else if (is_image_path(p.string())) {
      out.push_back(p.string());
    }
  }
  return out;
}

std::vector<CaseFiles> group_cases(const std::vector<std::string>& files,
                                   std::vector<std::string>* problems) {
  std::map<std::string, std::map<int, std::string>> channels;  // prefix -> index -> file
  std::map<std::string, std::string> single;
  for (const std::string& f : files) {
    const std::string stem = image_stem(f), dir = fs::path(f).parent_path().string();
    std::string case_name;
    int channel = 0;
    if (parse_channel_stem(stem, &case_name, &channel))
      channels[dir + "/" + case_name][channel] = f;
    else
      single[dir + "/" + stem] = f;
  }
  std::vector<CaseFiles> out;
  for (auto& [prefix, idx] : channels) {
    CaseFiles c;
    c.name = fs::path(prefix).filename().string();
    std::vector<int> indices;
    for (auto& [i, f] : idx) {
      indices.push_back(i);
      c.files.push_back(f);
    }
    const std::string gap = channel_gap_problem(indices);
    if (!gap.empty()) {
      if (problems) problems->push_back(c.name + ": " + gap);
      continue;
    }
    out.push_back(c);
  }
  for (auto& [key, f] : single) out.push_back(CaseFiles{fs::path(key).filename().string(), {f}});
  std::sort(out.begin(), out.end(), [](const CaseFiles& a, const CaseFiles& b) {
    return a.name != b.name ? a.name < b.name : a.files < b.files;
  });
  return out;
}

}  // namespace useg
