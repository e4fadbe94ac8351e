// Running the real `useg` binary from tests: start it with stdout/stderr sent to files, signal
// it, wait for it.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace useg::test {

class Child {
 public:
  // Starts `args` (args[0] = the program) with stdout and stderr appended to `log_path`.
  Child(const std::vector<std::string>& args, const std::string& log_path) {
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    if (posix_spawn(&m_pid, argv[0], &fa, nullptr, argv.data(), environ) != 0) m_pid = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  ~Child() {
    if (m_pid > 0 && !m_done) {
      ::kill(m_pid, SIGKILL);
      wait();
    }
  }
  bool started() const { return m_pid > 0; }
  void signal(int sig) { ::kill(m_pid, sig); }
  // Exit code, or 128 + signal when killed by a signal.
  int wait() {
    int status = 0;
    ::waitpid(m_pid, &status, 0);
    m_done = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  // True when the child has exited (collecting its status into *code).
  bool exited(int* code) {
    int status = 0;
    if (::waitpid(m_pid, &status, WNOHANG) != m_pid) return false;
    m_done = true;
    *code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return true;
  }

 private:
  pid_t m_pid = -1;
  bool m_done = false;
};

// Runs to completion; returns the exit code.
inline int run_command(const std::vector<std::string>& args, const std::string& log_path) {
  Child c(args, log_path);
  return c.started() ? c.wait() : -1;
}

}  // namespace useg::test
