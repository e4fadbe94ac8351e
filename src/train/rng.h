// Counter-based randomness for training: every random decision draws from an Rng seeded by a
// hash of (seed, stream, indices...), never from a shared generator. The numbers a batch sees
// therefore depend only on (seed, epoch, iteration, sample) — not on thread timing, on
// num_workers, or on whether the run was resumed — and are the same on every platform
// (splitmix64 and Box-Muller in double precision).
#pragma once

#include <cmath>
#include <cstdint>
#include <initializer_list>

namespace useg::training {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Hash of a list of integers (order matters).
inline uint64_t mix_seed(std::initializer_list<uint64_t> parts) {
  uint64_t h = 0x6A09E667F3BCC908ull;
  for (uint64_t p : parts) h = splitmix64(h ^ splitmix64(p + 0x1234567ull));
  return h;
}

// Streams: independent uses of the seed.
enum class Stream : uint64_t {
  Sample = 1,     // (epoch, iteration, sample): patch choice and augmentation
  Dropout = 2,    // (epoch, iteration)
  Split = 3,      // validation split
  Fingerprint = 4 // (case): foreground intensity sampling for the CT scheme
};

class Rng {
 public:
  explicit Rng(uint64_t seed) : m_state(seed) {}
  Rng(uint64_t seed, Stream stream, std::initializer_list<uint64_t> idx) : m_state(0) {
    uint64_t h = mix_seed({seed, static_cast<uint64_t>(stream)});
    for (uint64_t i : idx) h = mix_seed({h, i});
    m_state = h;
  }
  uint64_t next() {
    m_state += 0x9E3779B97F4A7C15ull;
    uint64_t z = m_state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // [0, 1)
  double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // 0..n-1 (n >= 1); the tiny modulo bias is irrelevant here and keeps it platform-exact.
  int64_t below(int64_t n) { return n <= 1 ? 0 : static_cast<int64_t>(next() % uint64_t(n)); }
  // [lo, hi] inclusive.
  int64_t between(int64_t lo, int64_t hi) { return hi <= lo ? lo : lo + below(hi - lo + 1); }
  bool chance(double p) { return p > 0 && uniform() < p; }
  double normal() {
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  uint64_t m_state;
};

}  // namespace useg::training
