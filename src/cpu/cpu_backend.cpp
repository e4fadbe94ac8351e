// The CPU backend's construction and its oneDNN context: engine, stream, op cache, scratch
// buffers, and the one place where an op's arguments are reordered and the primitive run.
#include "cpu/cpu_backend.h"
#include "cpu/winograd.h"

#include <omp.h>

#include <cstdlib>
#include <oneapi/dnnl/dnnl_debug.h>

#include "cpu/dnnl_context.h"
#include "useg/error.h"

namespace useg {
namespace cpu {

// ------------------------------------------------------------------------------ DnnlContext
void throw_dnnl_error(const dnnl::error& e, const std::string& what) {
  USEG_THROW(what << ": oneDNN " << e.what() << " (" << dnnl_status2str(e.status) << ")");
}

DnnlContext::DnnlContext() {
  try {
    m_engine = dnnl::engine(dnnl::engine::kind::cpu, 0);
    m_stream = dnnl::stream(m_engine);
    // Scratchpads come from our reused buffers instead of per-primitive allocations.
    m_attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  } catch (const dnnl::error& e) {
    throw_dnnl_error(e, "creating the oneDNN CPU engine");
  }
}

DnnlOp DnnlContext::make_op(const dnnl::primitive_desc_base& pd, dnnl::primitive prim,
                            const std::vector<DnnlArgSpec>& specs) const {
  DnnlOp op;
  op.prim = std::move(prim);
  int slot = kCallerSlots;
  for (const DnnlArgSpec& s : specs) {
    DnnlArg a;
    a.arg = s.arg;
    a.user_md = s.user_md;
    a.prim_md = pd.query_md(dnnl::query::exec_arg_md, s.arg);
    a.output = s.output;
    if (a.prim_md.is_zero()) USEG_THROW("internal error: primitive has no argument " << s.arg);
    a.reordered = !(a.prim_md == a.user_md);
    if (a.reordered) {
      a.slot = slot++;
      const auto& from = a.output ? a.prim_md : a.user_md;
      const auto& to = a.output ? a.user_md : a.prim_md;
      a.reorder = dnnl::reorder(dnnl::reorder::primitive_desc(m_engine, from, m_engine, to));
    }
    op.args.push_back(std::move(a));
  }
  op.scratchpad_md = pd.scratchpad_desc();
  if (op.scratchpad_md.get_size() > 0) op.scratchpad_slot = slot++;
  return op;
}

void DnnlContext::run(const DnnlOp& op, const DnnlPtrs& ptrs, const std::string& what) {
  try {
    std::unordered_map<int, dnnl::memory> args;
    std::vector<std::pair<const DnnlArg*, dnnl::memory>> outputs;  // reordered back after
    for (const DnnlArg& a : op.args) {
      const void* p = nullptr;
      for (const auto& [id, ptr] : ptrs)
        if (id == a.arg) p = ptr;
      if (!p) USEG_THROW("internal error: " << what << " is missing argument " << a.arg);
      dnnl::memory user(a.user_md, m_engine, const_cast<void*>(p));
      if (!a.reordered) {
        args.emplace(a.arg, user);
        continue;
      }
      dnnl::memory prim(a.prim_md, m_engine, buffer(a.slot, a.prim_md.get_size()));
      if (a.output)
        outputs.emplace_back(&a, user);
      else
        a.reorder.execute(m_stream, {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, prim}});
      args.emplace(a.arg, prim);
    }
    if (op.scratchpad_slot >= 0) {
      size_t bytes = op.scratchpad_md.get_size();
      args.emplace(DNNL_ARG_SCRATCHPAD,
                   dnnl::memory(op.scratchpad_md, m_engine, buffer(op.scratchpad_slot, bytes)));
    }
    op.prim.execute(m_stream, args);
    for (auto& [a, user] : outputs)
      a->reorder.execute(m_stream, {{DNNL_ARG_FROM, args.at(a->arg)}, {DNNL_ARG_TO, user}});
    m_stream.wait();
  } catch (const dnnl::error& e) {
    throw_dnnl_error(e, "running " + what);
  }
}

void* DnnlContext::buffer(int slot, size_t bytes) {
  if (slot >= static_cast<int>(m_buffers.size())) m_buffers.resize(slot + 1);
  Buffer& b = m_buffers[slot];
  if (b.bytes < bytes) {
    b.ptr.reset();  // free first: the old contents are never needed
    size_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded);
    if (!p) USEG_THROW("out of host memory allocating a " << bytes << "-byte oneDNN buffer");
    b.ptr = std::unique_ptr<void, void (*)(void*)>(p, std::free);
    b.bytes = rounded;
  }
  return b.ptr.get();
}

// ------------------------------------------------------------------------------ CpuBackend
CpuBackend::CpuBackend(const BackendOptions& opts) {
  USEG_CHECK(opts.threads >= 0, "cpu backend: threads must be >= 0 (0 = the OpenMP default), got "
                                    << opts.threads);
  USEG_CHECK(opts.precision.empty() || opts.precision == "fp32",
             "precision " << opts.precision
                          << " needs --device cuda: the CPU backend computes in float32 "
                             "(expected fp32)");
  m_winograd = opts.conv_algorithm != "direct";
  if (opts.threads > 0) omp_set_num_threads(opts.threads);
  m_dnnl = std::make_unique<DnnlContext>();
  add_all_ops(ops);
}

CpuBackend::~CpuBackend() = default;

}  // namespace cpu

std::unique_ptr<Backend> make_cpu_backend(const BackendOptions& opts) {
  return std::make_unique<Backend>(std::make_unique<cpu::CpuBackend>(opts));
}

}  // namespace useg
