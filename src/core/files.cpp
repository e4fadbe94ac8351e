#include "core/files.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <csignal>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "useg/error.h"

namespace fs = std::filesystem;

namespace useg {

namespace {
std::atomic<long long> g_bytes_written{0};
std::atomic<int> g_temp_counter{0};

// Splits "case.nii.gz" into ("case", ".nii.gz"); double extensions we know are kept whole.
std::pair<std::string, std::string> split_ext(const std::string& name) {
  for (const char* two : {".nii.gz", ".tar.gz"}) {
    std::string e(two);
    if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0)
      return {name.substr(0, name.size() - e.size()), e};
  }
  auto dot = name.rfind('.');
  if (dot == std::string::npos || dot == 0) return {name, ""};
  return {name.substr(0, dot), name.substr(dot)};
}

// This machine's name reduced to [A-Za-z0-9_] (at most 32 characters), so that a temporary
// name parses back unambiguously.
const std::string& host_tag() {
  static const std::string tag = [] {
    char buf[256] = {0};
    if (::gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return std::string("host");
    std::string t;
    for (const char* c = buf; *c && t.size() < 32; ++c)
      t += std::isalnum(static_cast<unsigned char>(*c)) ? *c : '_';
    return t;
  }();
  return tag;
}

struct TempName {
  std::string host;
  long pid = 0;
};

bool parse_temp_name(const std::string& name, TempName* out) {
  static const std::regex re(R"(^\..*\.tmp-([A-Za-z0-9_]+)-([0-9]{1,9})-[0-9]+(\..*)?$)");
  std::smatch m;
  if (!std::regex_match(name, m, re)) return false;
  if (out) {
    out->host = m[1].str();
    out->pid = std::stol(m[2].str());
  }
  return true;
}

bool process_alive(long pid) {
  if (pid <= 0) return true;  // not ours to judge
  if (pid == static_cast<long>(::getpid())) return true;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

bool is_disk_full_errno(int err) { return err == ENOSPC || err == EDQUOT; }

void fsync_path(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}
}  // namespace

bool injected_write_failure(size_t bytes_about_to_write) {
  static const char* env = std::getenv("USEG_FAIL_WRITES_AFTER_BYTES");
  if (!env) return false;
  long long limit = std::atoll(env);
  long long total = g_bytes_written.fetch_add(static_cast<long long>(bytes_about_to_write)) +
                    static_cast<long long>(bytes_about_to_write);
  return total > limit;
}

std::string temp_path_for(const std::string& final_path) {
  fs::path p(final_path);
  auto [stem, ext] = split_ext(p.filename().string());
  std::ostringstream name;
  name << "." << stem << ".tmp-" << host_tag() << "-" << ::getpid() << "-"
       << g_temp_counter.fetch_add(1) << ext;
  return (p.parent_path() / name.str()).string();
}

bool is_temp_name(const std::string& name) { return parse_temp_name(name, nullptr); }

size_t remove_stale_temp_files(const std::string& dir, double foreign_age_hours) {
  size_t removed = 0;
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  for (fs::directory_iterator it(dir.empty() ? "." : dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    TempName t;
    if (!parse_temp_name(it->path().filename().string(), &t)) continue;
    bool stale = false;
    if (t.host == host_tag()) {
      stale = !process_alive(t.pid);
    } else if (foreign_age_hours > 0) {
      std::error_code tec;
      auto mtime = fs::last_write_time(it->path(), tec);
      stale = !tec && now - mtime > std::chrono::duration<double, std::ratio<3600>>(
                                        foreign_age_hours);
    }
    if (!stale) continue;
    std::error_code rec;
    if (fs::remove_all(it->path(), rec) > 0 && !rec) ++removed;
  }
  return removed;
}

void check_external_write(const std::string& temp, const std::string& final_path) {
  std::error_code ec;
  uintmax_t size = 0;
  if (fs::is_directory(temp, ec)) {
    for (const auto& e : fs::recursive_directory_iterator(temp, ec))
      if (e.is_regular_file(ec)) size += e.file_size(ec);
  } else {
    size = fs::file_size(temp, ec);
  }
  if (!ec && injected_write_failure(static_cast<size_t>(size)))
    throw DiskFullError("cannot write " + final_path + ": " + std::strerror(ENOSPC) +
                        " (injected by USEG_FAIL_WRITES_AFTER_BYTES)");
}

void throw_write_failure(const std::string& final_path, const std::string& reason) {
  fs::path folder = fs::path(final_path).parent_path();
  if (folder.empty()) folder = ".";
  struct statvfs st {};
  if (::statvfs(folder.c_str(), &st) == 0) {
    // Root may use the blocks reserved for it; others see f_bavail.
    unsigned long long blocks = ::geteuid() == 0 ? st.f_bfree : st.f_bavail;
    unsigned long long free_bytes = blocks * static_cast<unsigned long long>(st.f_frsize);
    if (free_bytes < (1ull << 20))
      throw DiskFullError("cannot write " + final_path + ": " + std::strerror(ENOSPC) + " (" +
                          std::to_string(free_bytes) + " bytes free in " + folder.string() +
                          "; " + reason + ")");
  }
  throw Error("cannot write " + final_path + ": " + reason);
}

void commit_temp_file(const std::string& temp, const std::string& final_path) {
  fsync_path(temp, false);
  std::error_code ec;
  fs::rename(temp, final_path, ec);
  if (ec) {
    std::error_code rec;
    fs::remove(temp, rec);
    std::string msg = "cannot write " + final_path + ": rename from temporary file failed (" +
                      ec.message() + ")";
    if (is_disk_full_errno(ec.value())) throw DiskFullError(msg);
    throw Error(msg);
  }
  fs::path parent = fs::path(final_path).parent_path();
  fsync_path(parent.empty() ? "." : parent.string(), true);
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  std::string tmp = temp_path_for(path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int open_err = errno;
    std::string msg = "cannot write " + path + ": " + std::strerror(open_err);
    if (is_disk_full_errno(open_err)) throw DiskFullError(msg);
    throw Error(msg);
  }
  size_t done = 0;
  int err = 0;
  while (done < bytes.size()) {
    size_t chunk = std::min<size_t>(bytes.size() - done, size_t(1) << 24);
    if (injected_write_failure(chunk)) {
      err = ENOSPC;
      break;
    }
    ssize_t n = ::write(fd, bytes.data() + done, chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (!err && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && !err) err = errno;
  if (err) {
    ::unlink(tmp.c_str());
    std::string msg = "cannot write " + path + ": " + std::strerror(err) +
                      " (nothing was changed at that path)";
    if (is_disk_full_errno(err)) throw DiskFullError(msg);
    throw Error(msg);
  }
  commit_temp_file(tmp, path);
}

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) USEG_THROW("cannot read " << path << ": it is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) USEG_THROW("cannot read " << path << ": " << std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) USEG_THROW("cannot read " << path << ": read error");
  return ss.str();
}

}  // namespace useg
