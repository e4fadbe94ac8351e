#include "dist/watchdog.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "useg/error.h"

namespace useg::dist {

WatchedCommunicator::WatchedCommunicator(Communicator& inner, double timeout_seconds)
    : m_inner(inner), m_timeout(timeout_seconds) {
  USEG_REQUIRE(std::isfinite(timeout_seconds) && timeout_seconds > 0,
               "--collective-timeout " << timeout_seconds << ": expected seconds > 0");
  m_thread = std::thread([this] { watch(); });
}

WatchedCommunicator::~WatchedCommunicator() {
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_stop = true;
  }
  m_wake.notify_all();
  m_thread.join();
}

bool WatchedCommunicator::enter(const char* what) {
  std::lock_guard<std::mutex> lock(m_mutex);
  if (m_what) return false;
  m_what = what;
  m_since = std::chrono::steady_clock::now();
  return true;
}

void WatchedCommunicator::leave() {
  std::lock_guard<std::mutex> lock(m_mutex);
  m_what = nullptr;
}

WatchedCommunicator::Scope::Scope(WatchedCommunicator& w, const char* what)
    : m_w(w), m_outer(w.enter(what)) {}
WatchedCommunicator::Scope::~Scope() {
  if (m_outer) m_w.leave();
}

void WatchedCommunicator::watch() {
  // Checked often enough that a wait ends within about a tenth of the limit (at most 1 s) past it.
  const auto tick = std::chrono::duration<double>(std::clamp(m_timeout / 10, 0.05, 1.0));
  std::unique_lock<std::mutex> lock(m_mutex);
  while (!m_stop) {
    m_wake.wait_for(lock, tick);
    if (m_stop || !m_what) continue;
    const double waited =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - m_since).count();
    if (waited <= m_timeout) continue;
    std::ostringstream os;
    os << "waited " << std::lround(waited) << " s in " << m_what
       << " for the other ranks, longer than --collective-timeout " << m_timeout
       << " s: a rank is stuck or gone (stopped, hung on storage, a GPU fault). Ending the "
          "job; the last checkpoint stays. If a rank legitimately takes longer (large "
          "validation cases on one rank), raise --collective-timeout";
    const std::string message = os.str();
    lock.unlock();
    m_inner.abort(message);  // does not return
  }
}

void WatchedCommunicator::abort(const std::string& message) {
  m_inner.abort(message);
  std::_Exit(2);  // not reached: the inner communicator's abort ends the process
}

void WatchedCommunicator::allreduce_sum(float* data, size_t count) {
  Scope s(*this, "an all-reduce (MPI_Allreduce)");
  m_inner.allreduce_sum(data, count);
}
void WatchedCommunicator::allreduce_sum(double* data, size_t count) {
  Scope s(*this, "an all-reduce (MPI_Allreduce)");
  m_inner.allreduce_sum(data, count);
}
void WatchedCommunicator::allreduce_tensor(Tensor& t) {
  Scope s(*this, "the gradient all-reduce");
  m_inner.allreduce_tensor(t);
}
void WatchedCommunicator::allreduce_start(float* data, size_t count, Device device) {
  Scope s(*this, "starting a gradient all-reduce");
  m_inner.allreduce_start(data, count, device);
}
void WatchedCommunicator::wait_all() {
  Scope s(*this, "the gradient all-reduce");
  m_inner.wait_all();
}
void WatchedCommunicator::broadcast(void* data, size_t bytes, int root) {
  Scope s(*this, "a broadcast from rank 0");
  m_inner.broadcast(data, bytes, root);
}
void WatchedCommunicator::barrier() {
  Scope s(*this, "a barrier");
  m_inner.barrier();
}

}  // namespace useg::dist
