// DnnlContext: the CPU backend's oneDNN state — one engine and stream, a cache of ready-to-run
// ops keyed by op + shapes + geometry, and a few scratch buffers reused by every call.
// Only src/cpu/ includes this header: oneDNN never leaks into the public API.
//
// The API tensors are plain NCDHW. An op is built once per key: its primitive is created with
// format_tag::any where layout matters (convolutions), and every argument whose chosen layout
// differs from the caller's plain one gets a cached reorder into (or out of) a scratch buffer.
// Later calls with the same key only wrap the caller's pointers and run.
//
// Thread safety: an op holds `mutex` for its whole run (the scratch buffers are shared), so
// concurrent calls on one backend are serialized rather than racing.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "useg/tensor.h"

namespace useg::cpu {

// One argument of a primitive and how it travels between the caller's buffer and the primitive.
struct DnnlArg {
  int arg = 0;                 // DNNL_ARG_*
  dnnl::memory::desc user_md;  // the caller's layout
  dnnl::memory::desc prim_md;  // the layout the primitive chose
  bool output = false;
  bool reordered = false;      // layouts differ: `reorder` runs through scratch buffer `slot`
  dnnl::primitive reorder;     // user -> prim for inputs, prim -> user for outputs
  int slot = -1;
};

// A primitive ready to run, plus its argument plumbing; built once per cache key.
struct DnnlOp {
  dnnl::primitive prim;
  std::vector<DnnlArg> args;
  dnnl::memory::desc scratchpad_md;  // the primitive's own scratchpad (user-managed)
  int scratchpad_slot = -1;
};

// What an op builder declares for each argument: its id, the caller's layout, and whether the
// primitive writes it.
struct DnnlArgSpec {
  int arg;
  dnnl::memory::desc user_md;
  bool output;
};

// The caller's buffers for one run, by DNNL_ARG_*.
using DnnlPtrs = std::vector<std::pair<int, const void*>>;

class DnnlContext {
 public:
  // Scratch slots [0, kCallerSlots) are for ops that need their own intermediate buffers (e.g.
  // the pooling workspace); run() uses the slots above for reorders and scratchpads.
  static constexpr int kCallerSlots = 2;
  // The cache is dropped wholesale past this many entries (a U-Net needs a few dozen).
  static constexpr size_t kMaxCachedOps = 512;

  DnnlContext();

  const dnnl::engine& engine() const { return m_engine; }
  // Attributes every primitive is created with (user-managed scratchpad).
  const dnnl::primitive_attr& attr() const { return m_attr; }
  std::mutex& mutex() { return m_mutex; }

  // The op cached under `key`, built by `build` (a callable returning DnnlOp) on a miss.
  // oneDNN errors become useg::Error naming the key.
  template <class Build>
  std::shared_ptr<const DnnlOp> op(const std::string& key, Build&& build);

  // Plumbing for `prim` created from `pd`: compares each spec's layout with the one the
  // primitive expects and prepares the reorders.
  DnnlOp make_op(const dnnl::primitive_desc_base& pd, dnnl::primitive prim,
                 const std::vector<DnnlArgSpec>& specs) const;

  // Runs `op` on the caller's buffers (reorders in, primitive, reorders out) and waits.
  // `what` names the op in error messages.
  void run(const DnnlOp& op, const DnnlPtrs& ptrs, const std::string& what);

  // A scratch buffer of at least `bytes`, kept and reused across calls (64-byte aligned).
  void* buffer(int slot, size_t bytes);

  // Cache statistics (tests check that repeated shapes reuse primitives).
  size_t cache_size() const { return m_cache.size(); }
  int64_t cache_hits() const { return m_hits; }
  int64_t cache_misses() const { return m_misses; }

 private:
  struct Buffer {
    std::unique_ptr<void, void (*)(void*)> ptr{nullptr, nullptr};
    size_t bytes = 0;
  };
  dnnl::engine m_engine;
  dnnl::stream m_stream;
  dnnl::primitive_attr m_attr;
  std::mutex m_mutex;
  std::unordered_map<std::string, std::shared_ptr<const DnnlOp>> m_cache;
  std::vector<Buffer> m_buffers;
  int64_t m_hits = 0, m_misses = 0;
};

// Throws useg::Error for a oneDNN failure: "<what>: oneDNN <message> (<status>)".
[[noreturn]] void throw_dnnl_error(const dnnl::error& e, const std::string& what);

template <class Build>
std::shared_ptr<const DnnlOp> DnnlContext::op(const std::string& key, Build&& build) {
  auto it = m_cache.find(key);
  if (it != m_cache.end()) {
    ++m_hits;
    return it->second;
  }
  ++m_misses;
  std::shared_ptr<const DnnlOp> made;
  try {
    made = std::make_shared<const DnnlOp>(build());
  } catch (const dnnl::error& e) {
    throw_dnnl_error(e, "creating primitives for " + key);
  }
  if (m_cache.size() >= kMaxCachedOps) m_cache.clear();
  m_cache.emplace(key, made);
  return made;
}

// ------------------------------------------------------------------ useg shapes -> oneDNN
// Spatial values in oneDNN order: (D, H, W), or (H, W) when `flat` (2D descriptors).
inline dnnl::memory::dims spatial_dims(const std::array<int, 3>& v, bool flat) {
  if (flat) return {v[1], v[2]};
  return {v[0], v[1], v[2]};
}

// A rank-5 useg shape (N, C, D, H, W) or weight (O, I, kD, kH, kW) as oneDNN dims; rank 4
// without D when `flat`. `swap01` exchanges the first two (transposed-conv weights).
inline dnnl::memory::dims dnnl_dims(const Shape& s, bool flat, bool swap01 = false) {
  dnnl::memory::dim a = s[0], b = s[1];
  if (swap01) std::swap(a, b);
  if (flat) return {a, b, s[3], s[4]};
  return {a, b, s[2], s[3], s[4]};
}

// Plain row-major (ncdhw / nchw) f32 descriptor for a useg shape.
inline dnnl::memory::desc plain_md(const Shape& s, bool flat) {
  using tag = dnnl::memory::format_tag;
  return {dnnl_dims(s, flat), dnnl::memory::data_type::f32, flat ? tag::nchw : tag::ncdhw};
}

// Descriptor letting the primitive choose its layout.
inline dnnl::memory::desc any_md(const dnnl::memory::dims& dims) {
  return {dims, dnnl::memory::data_type::f32, dnnl::memory::format_tag::any};
}

// A rank-1 [C] parameter.
inline dnnl::memory::desc vector_md(int64_t c) {
  return {{c}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::a};
}

// Padding on the high side that makes oneDNN's output size match (in + 2p - k) / s + 1 exactly
// (it may be smaller than `pad`, even negative, when trailing input is never reached).
inline dnnl::memory::dims conv_pad_r(const Shape& in, const Shape& out,
                                     const std::array<int, 3>& k, const std::array<int, 3>& s,
                                     const std::array<int, 3>& p, bool flat) {
  dnnl::memory::dims r;
  for (int a = flat ? 1 : 0; a < 3; ++a)
    r.push_back((out[2 + a] - 1) * s[a] + k[a] - in[2 + a] - p[a]);
  return r;
}

}  // namespace useg::cpu
