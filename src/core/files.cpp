#include "useg/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
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
  name << "." << stem << ".tmp-" << ::getpid() << "-" << g_temp_counter.fetch_add(1) << ext;
  return (p.parent_path() / name.str()).string();
}

void commit_temp_file(const std::string& temp, const std::string& final_path) {
  fsync_path(temp, false);
  std::error_code ec;
  fs::rename(temp, final_path, ec);
  if (ec) {
    fs::remove(temp, ec);
    USEG_THROW("cannot write " << final_path << ": rename from temporary file failed ("
                               << ec.message() << ")");
  }
  fs::path parent = fs::path(final_path).parent_path();
  fsync_path(parent.empty() ? "." : parent.string(), true);
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  std::string tmp = temp_path_for(path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    USEG_THROW("cannot write " << path << ": " << std::strerror(errno));
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
    USEG_THROW("cannot write " << path << ": " << std::strerror(err)
                               << " (nothing was changed at that path)");
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
