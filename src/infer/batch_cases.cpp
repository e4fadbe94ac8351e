// Case discovery and shards for `useg segment`: inputs -> sorted cases -> this process's slice.
#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "util/cases.h"
#include "useg/error.h"
#include "useg/image.h"
#include "useg/segment.h"

namespace fs = std::filesystem;

namespace useg {

namespace {

std::string canonical(const std::string& p) {
  std::error_code ec;
  fs::path c = fs::weakly_canonical(fs::absolute(p), ec);
  return ec ? p : c.lexically_normal().string();
}

bool under(const std::string& path, const std::string& dir) {
  if (dir.empty()) return false;
  std::string p = canonical(path), d = canonical(dir);
  if (!d.empty() && d.back() != '/') d += '/';
  return p.rfind(d, 0) == 0;
}

std::string case_name_of_problem(const std::string& problem) {
  return problem.substr(0, problem.find(':'));
}

void add_cases(const std::vector<std::string>& files, const std::string& root,
               std::vector<BatchCase>& out) {
  std::vector<std::string> problems;
  for (const CaseFiles& c : group_cases(files, &problems)) {
    BatchCase b;
    b.name = c.name;
    b.files = c.files;
    if (!root.empty()) {
      fs::path rel = fs::path(c.files.front()).parent_path().lexically_relative(root);
      b.rel_dir = rel.string() == "." ? "" : rel.string();
    }
    b.id = b.rel_dir.empty() ? b.name : b.rel_dir + "/" + b.name;
    out.push_back(b);
  }
  for (const std::string& p : problems) {
    BatchCase b;
    b.name = b.id = case_name_of_problem(p);
    b.problem = p;
    out.push_back(b);
  }
}

}  // namespace

std::vector<BatchCase> find_cases(const std::vector<std::string>& inputs, bool recursive,
                                  const std::string& output_dir) {
  USEG_REQUIRE(!inputs.empty(), "no --input given");
  std::vector<BatchCase> cases;
  std::vector<std::string> direct;
  for (const std::string& in : inputs) {
    std::error_code ec;
    if (!fs::exists(in, ec))
      USEG_THROW("input " << in << " does not exist (give image files, DICOM folders or folders "
                                   "of images)");
    if (fs::is_directory(in, ec) && !is_image_path(in)) {
      std::vector<std::string> files;
      for (const std::string& f : list_images(in, recursive))
        if (!under(f, output_dir)) files.push_back(f);
      if (files.empty())
        USEG_THROW("no images found in " << in << " (looked for .nii, .nii.gz, .nrrd, .nhdr, "
                                            ".mha, .mhd, .tif, .tiff, .png files and DICOM "
                                            "folders"
                                         << (recursive ? "" : "; --recursive searches sub-folders")
                                         << ")");
      add_cases(files, in, cases);
    } else {
      direct.push_back(in);
    }
  }
  if (!direct.empty()) add_cases(direct, "", cases);
  std::stable_sort(cases.begin(), cases.end(),
                   [](const BatchCase& a, const BatchCase& b) { return a.id < b.id; });
  // Two inputs giving the same case id would write the same outputs.
  for (size_t i = 1; i < cases.size(); ++i)
    if (cases[i].id == cases[i - 1].id && cases[i].problem.empty())
      cases[i].problem = "case " + cases[i].id + " (" +
                         (cases[i].files.empty() ? std::string("?") : cases[i].files.front()) +
                         ") has the same name as " +
                         (cases[i - 1].files.empty() ? cases[i - 1].id
                                                     : cases[i - 1].files.front()) +
                         "; their outputs would collide — rename one or segment them apart";
  return cases;
}

namespace {

bool parse_int(const std::string& s, long* out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  long v = std::strtol(s.c_str(), &end, 10);
  if (errno || !end || *end != '\0' || v < INT_MIN || v > INT_MAX) return false;
  *out = v;
  return true;
}

}  // namespace

Shard resolve_shard(const std::string& shard_flag, int shards_flag,
                    const std::function<const char*(const char*)>& getenv) {
  Shard s;
  USEG_REQUIRE(shards_flag >= 0, "--shards must be at least 1, got " << shards_flag);
  if (!shard_flag.empty()) {
    size_t slash = shard_flag.find('/');
    long i = -1, n = -1;
    bool ok = slash != std::string::npos && parse_int(shard_flag.substr(0, slash), &i) &&
              parse_int(shard_flag.substr(slash + 1), &n) && n >= 1 && i >= 0 && i < n;
    if (!ok)
      USEG_THROW("--shard expects I/N with 0 <= I < N (e.g. --shard 0/4 for the first of 4 "
                 "shards), got '"
                 << shard_flag << "'");
    if (shards_flag && shards_flag != n)
      USEG_THROW("--shard " << shard_flag << " and --shards " << shards_flag << " disagree");
    s.index = int(i), s.count = int(n), s.source = "--shard";
    return s;
  }
  auto env = [&](const char* name) -> std::string {
    const char* v = getenv ? getenv(name) : nullptr;
    return v ? std::string(v) : std::string();
  };
  std::string slurm_id = env("SLURM_ARRAY_TASK_ID");
  std::string k8s = env("JOB_COMPLETION_INDEX");
  long idx = 0, count = 0;
  if (!slurm_id.empty()) {
    long min = 0;
    if (!parse_int(slurm_id, &idx))
      USEG_THROW("SLURM_ARRAY_TASK_ID='" << slurm_id << "' is not an integer");
    std::string m = env("SLURM_ARRAY_TASK_MIN");
    if (!m.empty() && !parse_int(m, &min))
      USEG_THROW("SLURM_ARRAY_TASK_MIN='" << m << "' is not an integer");
    idx -= min;
    std::string c = env("SLURM_ARRAY_TASK_COUNT");
    if (shards_flag)
      count = shards_flag;
    else if (c.empty() || !parse_int(c, &count))
      USEG_THROW("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is "
                 << (c.empty() ? "not" : "'" + c + "', not an integer")
                 << "; give the number of shards with --shards N");
    s.source = "SLURM_ARRAY_TASK_ID";
  } else if (!k8s.empty()) {
    if (!parse_int(k8s, &idx))
      USEG_THROW("JOB_COMPLETION_INDEX='" << k8s << "' is not an integer");
    if (!shards_flag)
      USEG_THROW("JOB_COMPLETION_INDEX is set (Kubernetes Indexed Job): give the number of "
                 "completions with --shards N");
    count = shards_flag;
    s.source = "JOB_COMPLETION_INDEX";
  } else {
    if (shards_flag)
      USEG_THROW("--shards " << shards_flag
                             << " needs a shard index: --shard I/N, SLURM_ARRAY_TASK_ID or "
                                "JOB_COMPLETION_INDEX");
    return s;
  }
  if (count < 1 || idx < 0 || idx >= count)
    USEG_THROW(s.source << " gives shard " << idx << " of " << count
                        << ", outside 0.." << count - 1
                        << " (for a Slurm array not starting at 0, SLURM_ARRAY_TASK_MIN is "
                           "subtracted)");
  s.index = int(idx), s.count = int(count);
  return s;
}

std::vector<BatchCase> select_shard(const std::vector<BatchCase>& cases, const Shard& shard) {
  std::vector<BatchCase> out;
  for (size_t k = 0; k < cases.size(); ++k)
    if (int(k % size_t(shard.count)) == shard.index) out.push_back(cases[k]);
  return out;
}

}  // namespace useg
