// Progress for long runs: on a terminal a status line redrawn in place (done/total, rate, ETA);
// when stderr is not a terminal (logs, Slurm, Kubernetes) only plain log lines.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace useg {

class Progress {
 public:
  // tty: -1 = detect from stderr, 0 = plain log lines, 1 = redraw a status line.
  explicit Progress(std::string label, int64_t total, int tty = -1);
  ~Progress();

  // Sets how much is done and an optional detail ("loss 0.213"); on a terminal redraws the
  // status line (at most 10 times a second). Thread-safe.
  void update(int64_t done, const std::string& detail = "");
  // A permanent line (printed above the status line on a terminal). Thread-safe.
  void log(const std::string& line);
  // Clears the status line (on a terminal).
  void finish();

  bool tty() const { return m_tty; }
  double elapsed_seconds() const;
  // "3.2 case/s, ETA 01:05" style text for `done` of `total` after `seconds`.
  static std::string rate_eta(int64_t done, int64_t total, double seconds, const std::string& unit);

 private:
  void draw_locked();
  std::string m_label;
  int64_t m_total, m_done = 0;
  std::string m_detail;
  bool m_tty;
  bool m_drawn = false;
  std::chrono::steady_clock::time_point m_start, m_last_draw;
  std::mutex m_mutex;
};

// "1h02m", "3m05s", "12s"
std::string format_duration(double seconds);

}  // namespace useg
