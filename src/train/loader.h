// Batches for consecutive optimizer steps, made ahead of time by worker threads. Each batch is a
// pure function of its step (the randomness is seeded per (epoch, iteration, sample)), so the
// sequence the trainer receives is the same for any number of workers; workers only change when
// a batch is made. With 0 workers the batch is made on the calling thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "train/augment.h"

namespace useg::training {

class BatchLoader {
 public:
  using MakeFn = std::function<Batch(int64_t step)>;
  // Produces the batches of steps first_step, first_step + 1, ..., end_step - 1, in order, keeping
  // at most 2 * num_workers ready or in progress.
  BatchLoader(MakeFn make, int num_workers, int64_t first_step, int64_t end_step);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // The batch of the next step; rethrows an exception raised while making it.
  Batch next();
  // Seconds the last next() spent waiting for a worker.
  double last_wait_seconds() const { return m_last_wait; }
  // Wall seconds each batch taken so far took to make (loading, cropping, augmentation), on a
  // worker or, with 0 workers, on the calling thread; in the order of their steps.
  std::vector<double> make_seconds() const;

 private:
  void work();

  MakeFn m_make;
  int64_t m_next_claim, m_next_take, m_end;
  size_t m_capacity;
  struct Made {
    Batch batch;
    double seconds = 0;
  };
  std::map<int64_t, Made> m_ready;
  std::map<int64_t, std::exception_ptr> m_failed;
  bool m_stop = false;
  std::mutex m_mutex;
  std::condition_variable m_cv;
  std::vector<std::thread> m_threads;
  double m_last_wait = 0;
  std::vector<double> m_make_seconds;  // of the batches taken, written by next() only
};

}  // namespace useg::training
