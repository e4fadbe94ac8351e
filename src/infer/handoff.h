// A one-slot handoff between two threads of the batch runner. The slot is empty, full, or
// busy (taken but not yet released): put() waits until it is empty, so a producer never gets
// more than one item ahead, and a consumer that releases only after its work keeps the producer
// from handing over the next item meanwhile (the writer thread holds at most one case).
#pragma once

#include <condition_variable>
#include <mutex>
#include <optional>

namespace useg::detail {

template <typename T>
class Handoff {
 public:
  // Waits until the slot is empty (or closed: then drops the item and returns false).
  bool put(T item) {
    std::unique_lock<std::mutex> lock(m_mutex);
    m_cv.wait(lock, [&] { return m_state == State::Empty || m_closed; });
    if (m_closed) return false;
    m_item = std::move(item);
    m_state = State::Full;
    m_cv.notify_all();
    return true;
  }
  // Waits for an item; nullopt once closed and drained. The slot is busy until release().
  std::optional<T> take() {
    std::unique_lock<std::mutex> lock(m_mutex);
    m_cv.wait(lock, [&] { return m_state == State::Full || (m_closed && m_state == State::Empty); });
    if (m_state != State::Full) return std::nullopt;
    std::optional<T> out = std::move(m_item);
    m_item.reset();
    m_state = State::Busy;
    return out;
  }
  void release() {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_state = State::Empty;
    m_cv.notify_all();
  }
  // Waits until the slot is empty: nothing queued and nothing being worked on.
  void wait_empty() {
    std::unique_lock<std::mutex> lock(m_mutex);
    m_cv.wait(lock, [&] { return m_state == State::Empty || m_closed; });
  }
  // No more items: take() returns nullopt after the last one, put() refuses.
  void close() {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_closed = true;
    m_cv.notify_all();
  }

 private:
  enum class State { Empty, Full, Busy };
  std::mutex m_mutex;
  std::condition_variable m_cv;
  std::optional<T> m_item;
  State m_state = State::Empty;
  bool m_closed = false;
};

}  // namespace useg::detail
