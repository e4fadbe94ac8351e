// The per-layer profile of `useg bench`: an OpTimer (include/useg/backend.h) that adds up each
// op's wall time per op and shape (the key the backend reports), in order of first appearance.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "useg/backend.h"

namespace useg::cli {

class LayerTimer final : public OpTimer {
 public:
  struct Entry {
    std::string key;  // op and its main shape, e.g. "conv_forward [4, 32, 1, 256, 256] k1x3x3"
    double ms = 0, gflop = 0;
    int64_t calls = 0;
  };
  void record(const std::string& key, double gflop, double ms) override {
    auto it = m_index.find(key);
    if (it == m_index.end()) {
      it = m_index.emplace(key, m_entries.size()).first;
      m_entries.push_back({key});
    }
    Entry& e = m_entries[it->second];
    e.ms += ms;
    e.gflop += gflop;
    e.calls += 1;
  }
  const std::vector<Entry>& entries() const { return m_entries; }
  void reset() { m_entries.clear(), m_index.clear(); }

 private:
  std::vector<Entry> m_entries;
  std::map<std::string, size_t> m_index;
};

}  // namespace useg::cli
