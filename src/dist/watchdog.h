// A time limit on waiting for the other ranks (PyTorch's collective timeout): a rank that is
// stuck but alive — stopped, hung on a file system, in a GPU fault — would otherwise keep every
// other rank waiting in its next collective until the job's time limit. WatchedCommunicator
// wraps the run's communicator and times each collective; a thread checks once a second, and a
// wait longer than the limit ends the job through the communicator's abort (MPI_Abort, after
// ncclCommAbort on GPUs), with a message naming the wait, the limit and --collective-timeout.
//
// abort() is called from the watchdog's thread while the main thread is blocked in the wait:
// MPI_Abort is the one MPI call Open MPI and MPICH honour from any thread in that state, and
// ncclCommAbort is meant for exactly this (it ends the stuck NCCL kernels).
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "dist/communicator.h"

namespace useg::dist {

class WatchedCommunicator final : public Communicator {
 public:
  // Waits of `inner` longer than `timeout_seconds` (> 0) end the job.
  WatchedCommunicator(Communicator& inner, double timeout_seconds);
  ~WatchedCommunicator() override;

  // Times a wait that happens outside the communicator (reading a GPU's result, which waits for
  // NCCL): the same limit, with `what` in the message. Nests with the collectives' own scopes.
  class Scope {
   public:
    Scope(WatchedCommunicator& w, const char* what);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    WatchedCommunicator& m_w;
    bool m_outer;
  };

  int rank() const override { return m_inner.rank(); }
  int size() const override { return m_inner.size(); }
  void allreduce_sum(float* data, size_t count) override;
  void allreduce_sum(double* data, size_t count) override;
  void allreduce_tensor(Tensor& t) override;
  bool sums_in_place(Device device) const override { return m_inner.sums_in_place(device); }
  void allreduce_start(float* data, size_t count, Device device) override;
  void wait_all() override;
  void progress() override { m_inner.progress(); }
  void broadcast(void* data, size_t bytes, int root) override;
  void barrier() override;
  [[noreturn]] void abort(const std::string& message) override;
  std::string description() const override { return m_inner.description(); }
  double timeout_seconds() const { return m_timeout; }

 private:
  bool enter(const char* what);  // false when already inside a wait (the outer one is timed)
  void leave();
  void watch();

  Communicator& m_inner;
  const double m_timeout;
  std::mutex m_mutex;
  std::condition_variable m_wake;
  bool m_stop = false;
  const char* m_what = nullptr;  // the wait in progress, or null
  std::chrono::steady_clock::time_point m_since;
  std::thread m_thread;
};

}  // namespace useg::dist
