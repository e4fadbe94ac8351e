#include "util/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <sstream>

namespace useg {

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  long t = std::lround(s);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else if (t >= 60)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}

std::string Progress::rate_eta(int64_t done, int64_t total, double seconds,
                               const std::string& unit) {
  std::ostringstream os;
  if (done <= 0 || seconds <= 0) return "ETA ?";
  double rate = double(done) / seconds;
  if (rate >= 1)
    os.precision(3), os << rate << " " << unit << "/s";
  else
    os.precision(3), os << 1.0 / rate << " s/" << unit;
  if (total > done) os << ", ETA " << format_duration(double(total - done) / rate);
  return os.str();
}

Progress::Progress(std::string label, int64_t total, int tty)
    : m_label(std::move(label)),
      m_total(total),
      m_tty(tty < 0 ? ::isatty(2) != 0 : tty == 1),
      m_start(std::chrono::steady_clock::now()),
      m_last_draw(m_start - std::chrono::seconds(1)) {}

Progress::~Progress() { finish(); }

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
}

void Progress::draw_locked() {
  std::ostringstream os;
  os << "\r\033[K" << m_label << " " << m_done << "/" << m_total << "  "
     << rate_eta(m_done, m_total, elapsed_seconds(), "it");
  if (!m_detail.empty()) os << "  " << m_detail;
  std::fputs(os.str().c_str(), stderr);
  std::fflush(stderr);
  m_drawn = true;
  m_last_draw = std::chrono::steady_clock::now();
}

void Progress::update(int64_t done, const std::string& detail) {
  std::lock_guard<std::mutex> lock(m_mutex);
  m_done = done;
  m_detail = detail;
  if (!m_tty) return;
  auto now = std::chrono::steady_clock::now();
  if (done < m_total && now - m_last_draw < std::chrono::milliseconds(100)) return;
  draw_locked();
}

void Progress::log(const std::string& line) {
  std::lock_guard<std::mutex> lock(m_mutex);
  // One fputs for the line and its newline: stderr is unbuffered, so that is one write, and a
  // library printing to stderr from another thread (niftilib's "** ERROR: NWAD ..." when a disk
  // fills) cannot land between a line and its end.
  const std::string out = (m_tty && m_drawn ? "\r\033[K" : "") + line + "\n";
  std::fputs(out.c_str(), stderr);
  if (m_tty && m_drawn) draw_locked();
  std::fflush(stderr);
}

void Progress::finish() {
  std::lock_guard<std::mutex> lock(m_mutex);
  if (m_tty && m_drawn) {
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
  }
  m_drawn = false;
}

}  // namespace useg
