// Helpers for the crash-safety tests: start the `useg` binary as a child process (no shell, so
// the pid is the process itself), SIGKILL it at a chosen moment, and check that every file a
// killed run left under its final name is complete (it parses) and that temporary files follow
// the `.NAME.tmp-HOST-PID-N` pattern.
#pragma once

#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "io/io_common.h"
#include "useg/error.h"
#include "core/files.h"
#include "useg/image.h"
#include "io/safetensors.h"

extern char** environ;

namespace useg::test {

// Trials and seed of the kill tests: USEG_KILL_TRIALS (default `fallback`, at least 1) and
// USEG_KILL_SEED (default 20261124) let a person run many more by hand.
inline int kill_trials(int fallback) {
  const char* env = std::getenv("USEG_KILL_TRIALS");
  int n = env ? std::atoi(env) : fallback;
  return n < 1 ? fallback : n;
}
inline unsigned kill_seed() {
  const char* env = std::getenv("USEG_KILL_SEED");
  return env ? static_cast<unsigned>(std::strtoul(env, nullptr, 10)) : 20261124u;
}

// Starts USEG_BINARY with `args`, stdout and stderr appended to `log`, and this process's
// environment plus `env` ("NAME=value" entries). Returns the pid.
inline pid_t spawn_useg(const std::vector<std::string>& args, const std::string& log,
                        std::vector<std::string> env = {}) {
  std::vector<std::string> all{USEG_BINARY};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = -1;
  std::vector<char*> envp;
  for (char** e = environ; *e; ++e) envp.push_back(*e);
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

struct ChildEnd {
  bool exited = false;  // exited by itself (else killed by a signal)
  int code = -1;        // exit code when exited
};

inline ChildEnd wait_child(pid_t pid) {
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  ChildEnd e;
  e.exited = WIFEXITED(st);
  e.code = e.exited ? WEXITSTATUS(st) : -1;
  return e;
}

// Runs `useg args` to completion (no kill) and returns how it ended.
inline ChildEnd run_to_end(const std::vector<std::string>& args, const std::string& log,
                           std::vector<std::string> env = {}) {
  pid_t pid = spawn_useg(args, log, std::move(env));
  if (pid <= 0) return {};
  return wait_child(pid);
}

// Waits `delay`, then SIGKILLs `pid` unless it ended first. Returns true when it was killed.
inline bool kill_after(pid_t pid, std::chrono::microseconds delay, ChildEnd* end) {
  const auto until = std::chrono::steady_clock::now() + delay;
  int st = 0;
  while (std::chrono::steady_clock::now() < until) {
    pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid) {
      end->exited = WIFEXITED(st);
      end->code = end->exited ? WEXITSTATUS(st) : -1;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  ::kill(pid, SIGKILL);
  *end = wait_child(pid);
  return !end->exited;
}

// Number of fields in each line of a CSV text (RFC 4180 quotes honoured); empty when a quote is
// left open (a cut file).
inline std::vector<size_t> csv_field_counts(const std::string& text) {
  std::vector<size_t> rows;
  size_t fields = 1;
  bool quoted = false, any = false;
  for (char c : text) {
    any = true;
    if (c == '"') quoted = !quoted;
    else if (!quoted && c == ',') ++fields;
    else if (!quoted && c == '\n') rows.push_back(fields), fields = 1, any = false;
  }
  if (quoted) return {};
  if (any) rows.push_back(fields);
  return rows;
}

struct FolderCheck {
  int files = 0;        // complete files checked under their final names
  int temp_files = 0;   // entries named like temp_path_for
  std::vector<std::string> problems;
};

// Every file under `dir` (recursively) either is a temporary file by name or parses completely:
// images (read back; `expect_size` checked for label images when given), JSON, CSV (every row
// as many fields as the header), safetensors. Other extensions (logs, .txt) are not checked.
inline FolderCheck check_complete_files(const std::filesystem::path& dir,
                                        const Geometry* expect_size = nullptr) {
  namespace fs = std::filesystem;
  FolderCheck out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    const fs::path& p = it->path();
    const std::string name = p.filename().string();
    if (is_temp_name(name)) {
      ++out.temp_files;
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file()) continue;
    const std::string ext = io::image_extension(p.string());
    try {
      if (!ext.empty()) {
        Image im = read_image(p.string());
        bool label = name.find("_prob_") == std::string::npos &&
                     name.find("_preview") == std::string::npos;
        if (expect_size && label && im.geometry.size != expect_size->size)
          out.problems.push_back(p.string() + ": size " + im.geometry.str());
      } else if (p.extension() == ".json") {
        nlohmann::json j = nlohmann::json::parse(read_file(p.string()));
        if (j.is_discarded()) out.problems.push_back(p.string() + ": not JSON");
      } else if (p.extension() == ".csv") {
        auto rows = csv_field_counts(read_file(p.string()));
        if (rows.empty()) out.problems.push_back(p.string() + ": empty or cut CSV");
        for (size_t r = 1; r < rows.size(); ++r)
          if (rows[r] != rows[0])
            out.problems.push_back(p.string() + ": row " + std::to_string(r) + " has " +
                                   std::to_string(rows[r]) + " fields, the header " +
                                   std::to_string(rows[0]));
      } else if (p.extension() == ".safetensors") {
        (void)read_safetensors(p.string());
      } else {
        continue;
      }
      ++out.files;
    } catch (const std::exception& e) {
      out.problems.push_back(p.string() + ": " + e.what());
    }
  }
  return out;
}

}  // namespace useg::test
