#include "train/loader.h"

#include <algorithm>
#include <chrono>

#include "useg/error.h"

namespace useg::training {

BatchLoader::BatchLoader(MakeFn make, int num_workers, int64_t first_step, int64_t end_step)
    : m_make(std::move(make)),
      m_next_claim(first_step),
      m_next_take(first_step),
      m_end(end_step),
      m_capacity(static_cast<size_t>(2 * std::max(num_workers, 1))) {
  for (int i = 0; i < num_workers; ++i) m_threads.emplace_back([this] { work(); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_stop = true;
  }
  m_cv.notify_all();
  for (std::thread& t : m_threads) t.join();
}

void BatchLoader::work() {
  for (;;) {
    int64_t step;
    {
      std::unique_lock<std::mutex> lock(m_mutex);
      // Claim the next step once fewer than `capacity` are claimed but not yet taken.
      m_cv.wait(lock, [this] {
        return m_stop || (m_next_claim < m_end &&
                          static_cast<size_t>(m_next_claim - m_next_take) < m_capacity);
      });
      if (m_stop) return;
      step = m_next_claim++;
    }
    Made m;
    std::exception_ptr err;
    const auto t0 = std::chrono::steady_clock::now();
    try {
      m.batch = m_make(step);
    } catch (...) {
      err = std::current_exception();
    }
    m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    {
      std::lock_guard<std::mutex> lock(m_mutex);
      if (err)
        m_failed[step] = err;
      else
        m_ready[step] = std::move(m);
    }
    m_cv.notify_all();
  }
}

Batch BatchLoader::next() {
  auto t0 = std::chrono::steady_clock::now();
  USEG_REQUIRE(m_next_take < m_end, "BatchLoader: no batch left (end step " << m_end << ")");
  if (m_threads.empty()) {
    Batch b = m_make(m_next_take++);
    m_last_wait = 0;
    m_make_seconds.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return b;
  }
  std::unique_lock<std::mutex> lock(m_mutex);
  const int64_t step = m_next_take;
  m_cv.wait(lock, [&] { return m_ready.count(step) || m_failed.count(step); });
  m_last_wait = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ++m_next_take;
  auto f = m_failed.find(step);
  if (f != m_failed.end()) {
    std::exception_ptr e = f->second;
    m_failed.erase(f);
    lock.unlock();
    m_cv.notify_all();
    std::rethrow_exception(e);
  }
  Batch b = std::move(m_ready[step].batch);
  m_make_seconds.push_back(m_ready[step].seconds);
  m_ready.erase(step);
  lock.unlock();
  m_cv.notify_all();
  return b;
}

std::vector<double> BatchLoader::make_seconds() const { return m_make_seconds; }

}  // namespace useg::training
