// The cache of cuDNN algorithm choices: one entry per ConvKey (shapes, geometry, routine,
// precision, layout), made once by asking cuDNN and reused on every later call with that key
// (every window batch of an inference run, every training step). Host-only so CI can test it.
#pragma once

#include <cstddef>
#include <unordered_map>

#include "cuda/host/conv_problem.h"

namespace useg::gpu {

template <class Plan>
class PlanCache {
 public:
  // The plan for `key`, made with make() on the first request.
  template <class Make>
  const Plan& get(const ConvKey& key, Make make) {
    auto it = m_plans.find(key);
    if (it != m_plans.end()) {
      ++m_hits;
      return it->second;
    }
    ++m_misses;
    return m_plans.emplace(key, make()).first->second;
  }
  size_t size() const { return m_plans.size(); }
  size_t hits() const { return m_hits; }
  size_t misses() const { return m_misses; }
  void clear() { m_plans.clear(); }

 private:
  std::unordered_map<ConvKey, Plan, ConvKeyHash> m_plans;
  size_t m_hits = 0;
  size_t m_misses = 0;
};

}  // namespace useg::gpu
