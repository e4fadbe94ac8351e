// Running a CpuInferencePlan: preparing the weights once (set_weights) and executing the steps
// sample by sample over the plan's buffers.
#include <omp.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "cpu/dnnl_context.h"
#include "cpu/inference_plan.h"
#include "cpu/parallel.h"
#include "useg/error.h"
#include "useg/model.h"

namespace useg::cpu {

namespace {

std::shared_ptr<void> aligned_bytes(size_t bytes) {
  size_t rounded = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded > 0 ? rounded : 64);
  if (!p) USEG_THROW("out of host memory allocating a " << bytes << "-byte inference buffer");
  return std::shared_ptr<void>(p, std::free);
}

const Tensor& find(const std::unordered_map<std::string, const Parameter*>& m,
                   const std::string& name, int64_t numel) {
  auto it = m.find(name);
  USEG_CHECK(it != m.end(), "inference plan: the model has no tensor '" << name << "'");
  const Tensor& t = it->second->value;
  USEG_CHECK(t.device() == Device::CPU, "inference plan: '" << name << "' is not on the CPU");
  USEG_CHECK(t.numel() == numel, "inference plan: '" << name << "' has shape " << t.shape().str()
                                                      << ", expected " << numel << " values");
  return t;
}

// Runs a small memory-bound oneDNN primitive (pooling, reorder) on the calling thread only: they
// size their parallel loops from omp_get_max_threads() at execution (see cpu/parallel.h).
struct SerialIfSmall {
  int saved = 0;
  explicit SerialIfSmall(bool small) {
    if (!small) return;
    saved = omp_get_max_threads();
    omp_set_num_threads(1);
  }
  ~SerialIfSmall() {
    if (saved > 0) omp_set_num_threads(saved);
  }
};

}  // namespace

void CpuInferencePlan::set_weights(const std::vector<const Parameter*>& tensors) {
  std::unordered_map<std::string, const Parameter*> by_name;
  for (const Parameter* p : tensors) by_name[p->name] = p;
  try {
    for (PlanWeights& w : m_weights) {
      const Tensor& wt = find(by_name, w.weight, w.shape.numel());
      const int64_t cout = w.upsample_k ? w.upsample_co : w.transposed ? w.shape[1] : w.shape[0];
      const Tensor& bt = find(by_name, w.bias, cout);
      w.bias_data.assign(bt.data(), bt.data() + cout);
      const float* src = wt.data();
      std::vector<float> folded;
      if (w.upsample_k) {
        // PyTorch's transposed-conv weights [Ci, Co, k] -> the 1x1 conv's [k * Co + co, Ci];
        // the bias repeats for every offset.
        const int64_t K = w.upsample_k, co = w.upsample_co, ci = w.shape[1];
        folded.resize(w.shape.numel());
        for (int64_t i = 0; i < ci; ++i)
          for (int64_t o = 0; o < co; ++o)
            for (int64_t k = 0; k < K; ++k) folded[(k * co + o) * ci + i] = src[(i * co + o) * K + k];
        src = folded.data();
        std::vector<float> b(K * co);
        for (int64_t k = 0; k < K; ++k)
          std::copy(w.bias_data.begin(), w.bias_data.end(), b.begin() + k * co);
        w.bias_data = std::move(b);
      }
      if (!w.bn_prefix.empty()) {
        // Inference batch norm after the conv: y = g * (conv(x) + b - mean) / sqrt(var + eps) + beta
        // = conv'(x) + b' with every output channel's weights scaled by g / sqrt(var + eps).
        const float* g = find(by_name, w.bn_prefix + ".weight", cout).data();
        const float* be = find(by_name, w.bn_prefix + ".bias", cout).data();
        const float* mean = find(by_name, w.bn_prefix + ".running_mean", cout).data();
        const float* var = find(by_name, w.bn_prefix + ".running_var", cout).data();
        const int64_t per_out = w.shape.numel() / cout;
        folded.assign(src, src + w.shape.numel());
        for (int64_t o = 0; o < cout; ++o) {
          double scale = g[o] / std::sqrt(double(var[o]) + double(w.bn_eps));
          for (int64_t i = 0; i < per_out; ++i) folded[o * per_out + i] *= float(scale);
          w.bias_data[o] = float((double(w.bias_data[o]) - mean[o]) * scale + be[o]);
        }
        src = folded.data();
      }
      if (w.wino) {
        w.wino->set_weights(src, w.bias_data.data());
        continue;
      }
      w.data = aligned_bytes(w.prim_md.get_size());
      dnnl::memory from(w.user_md, m_engine, const_cast<float*>(src));
      dnnl::memory to(w.prim_md, m_engine, w.data.get());
      dnnl::reorder(from, to).execute(m_stream, from, to);
      m_stream.wait();
    }
  } catch (const dnnl::error& e) {
    throw_dnnl_error(e, "preparing the inference plan's weights");
  }
  m_norm_params.clear();
  for (PlanStep& s : m_steps) {
    if (s.kind != PlanStep::Kind::Finish || s.norm_prefix.empty()) continue;
    const int64_t ch = s.dst.channels;
    for (const char* part : {".weight", ".bias"}) {
      const Tensor& t = find(by_name, s.norm_prefix + part, ch);
      m_norm_params[s.norm_prefix + part].assign(t.data(), t.data() + ch);
    }
  }
  for (PlanStep& s : m_steps) {  // pointers into the map's vectors, stable from here on
    if (s.kind != PlanStep::Kind::Finish || s.norm_prefix.empty()) continue;
    s.finish.gamma = m_norm_params.at(s.norm_prefix + ".weight").data();
    s.finish.beta = m_norm_params.at(s.norm_prefix + ".bias").data();
  }
  m_weights_set = true;
}

float* CpuInferencePlan::ptr(const PlanView& v, const float* in, float* out) {
  if (v.buf == kUserIn) return const_cast<float*>(in) + v.offset;
  if (v.buf == kUserOut) return out + v.offset;
  return m_bufs[v.buf].get() + v.offset;
}

void CpuInferencePlan::run(const Tensor& x, Tensor& logits) {
  USEG_CHECK(m_weights_set, "inference plan: set_weights() must be called before run()");
  USEG_CHECK(x.shape() == m_input, "inference plan built for input " << m_input.str()
                                                                     << ", got " << x.shape().str());
  USEG_CHECK(logits.shape() == m_output, "inference plan: logits must be " << m_output.str()
                                                                           << ", got "
                                                                           << logits.shape().str());
  USEG_CHECK(x.device() == Device::CPU && logits.device() == Device::CPU,
             "inference plan: tensors must be on the CPU");
  if (m_bufs.empty()) {
    // Zero-filled once: the padding lanes of blocked buffers must read as zeros.
    for (int64_t floats : m_buf_floats) {
      auto p = aligned_bytes(std::max<int64_t>(floats, 1) * sizeof(float));
      std::memset(p.get(), 0, std::max<int64_t>(floats, 1) * sizeof(float));
      m_bufs.push_back(std::shared_ptr<float>(p, static_cast<float*>(p.get())));
    }
    if (m_scratchpad_bytes > 0) m_scratchpad = aligned_bytes(m_scratchpad_bytes);
  }
  if (m_profile && m_times.size() != m_steps.size()) {
    m_times.assign(m_steps.size(), {});
    for (size_t i = 0; i < m_steps.size(); ++i) m_times[i].name = m_steps[i].name;
  }
  using clock = std::chrono::steady_clock;
  const int64_t in_floats = m_input.numel() / m_input[0];
  const int64_t out_floats = m_output.numel() / m_output[0];
  try {
    for (int64_t n = 0; n < m_input[0]; ++n) {
      const float* in = x.data() + n * in_floats;
      float* out = logits.data() + n * out_floats;
      for (size_t i = 0; i < m_steps.size(); ++i) {
        const PlanStep& s = m_steps[i];
        auto t0 = clock::now();
        auto mem = [&](const PlanView& v) { return dnnl::memory(v.md, m_engine, ptr(v, in, out)); };
        std::unordered_map<int, dnnl::memory> args;
        if (!s.scratch_md.is_zero() && s.scratch_md.get_size() > 0)
          args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(s.scratch_md, m_engine, m_scratchpad.get()));
        switch (s.kind) {
          case PlanStep::Kind::Reorder: {
            SerialIfSmall serial(s.dst.channels * s.dst.spatial < kParallelMin);
            args.emplace(DNNL_ARG_FROM, mem(s.src));
            args.emplace(DNNL_ARG_TO, mem(s.dst));
            s.prim.execute(m_stream, args);
            m_stream.wait();
            break;
          }
          case PlanStep::Kind::Conv:
          case PlanStep::Kind::Deconv: {
            PlanWeights& w = m_weights[s.weights];
            if (w.wino) {
              m_stream.wait();
              const int threads = omp_get_max_threads();
              const auto need = static_cast<size_t>(w.wino->scratch_floats(threads));
              if (m_wino_scratch.size() < need) m_wino_scratch.resize(need);
              w.wino->run(ptr(s.src, in, out), ptr(s.dst, in, out), s.activate, s.slope,
                          m_wino_scratch.data(), threads);
              break;
            }
            args.emplace(DNNL_ARG_SRC, mem(s.src));
            args.emplace(DNNL_ARG_WEIGHTS, dnnl::memory(w.prim_md, m_engine, w.data.get()));
            args.emplace(DNNL_ARG_BIAS,
                         dnnl::memory(vector_md(int64_t(w.bias_data.size())), m_engine,
                                      w.bias_data.data()));
            args.emplace(DNNL_ARG_DST, mem(s.dst));
            s.prim.execute(m_stream, args);
            break;
          }
          case PlanStep::Kind::Pool: {
            SerialIfSmall serial(s.src.channels * s.src.spatial < kParallelMin);
            args.emplace(DNNL_ARG_SRC, mem(s.src));
            args.emplace(DNNL_ARG_DST, mem(s.dst));
            s.prim.execute(m_stream, args);
            m_stream.wait();
            break;
          }
          case PlanStep::Kind::Finish:
            m_stream.wait();
            blocked_finish(ptr(s.dst, in, out), s.dst.channels, s.dst.spatial, m_block, s.finish,
                           s.src2.buf == -1 ? nullptr : ptr(s.src2, in, out));
            break;
          case PlanStep::Kind::Shuffle:
            m_stream.wait();
            blocked_pixel_shuffle(ptr(s.src, in, out), s.dst.channels, s.in_dhw, s.kernel,
                                  ptr(s.dst, in, out), m_block);
            break;
          case PlanStep::Kind::Concat:
            m_stream.wait();
            blocked_concat(ptr(s.src, in, out), s.src.channels, ptr(s.src2, in, out),
                           s.src2.channels, ptr(s.dst, in, out), s.dst.spatial, m_block);
            break;
        }
        if (m_profile) {
          m_stream.wait();
          m_times[i].ms += std::chrono::duration<double, std::milli>(clock::now() - t0).count();
          m_times[i].calls += 1;
          m_times[i].gflop += s.gflop;
        }
      }
    }
    m_stream.wait();
  } catch (const dnnl::error& e) {
    throw_dnnl_error(e, "running the inference plan");
  }
}

}  // namespace useg::cpu
