#include "useg/cases.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <sstream>

#include "useg/error.h"
#include "useg/image.h"

namespace fs = std::filesystem;

namespace useg {

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
    std::string stem = image_stem(f);
    bool nn = stem.size() > 5 && stem[stem.size() - 5] == '_' &&
              std::all_of(stem.end() - 4, stem.end(), [](unsigned char c) { return std::isdigit(c); });
    if (nn) {
      std::string prefix = fs::path(f).parent_path().string() + "/" + stem.substr(0, stem.size() - 5);
      channels[prefix][std::stoi(stem.substr(stem.size() - 4))] = f;
    } else {
      single[fs::path(f).parent_path().string() + "/" + stem] = f;
    }
  }
  std::vector<CaseFiles> out;
  for (auto& [prefix, idx] : channels) {
    CaseFiles c;
    c.name = fs::path(prefix).filename().string();
    int expect = 0;
    bool ok = true;
    for (auto& [i, f] : idx) {
      if (i != expect) ok = false;
      c.files.push_back(f);
      ++expect;
    }
    if (!ok) {
      if (problems) {
        std::ostringstream os;
        os << c.name << ": channel files";
        for (auto& [i, f] : idx) {
          (void)f;
          char b[8];
          std::snprintf(b, sizeof b, "_%04d", i);
          os << " " << b;
        }
        os << " do not run 0, 1, 2, ... without gaps";
        problems->push_back(os.str());
      }
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
