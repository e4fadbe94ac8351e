// The CPU backend: oneDNN primitives for convolution, transposed convolution and pooling
// (src/cpu/dnnl_*.cpp), OpenMP loops over the math in src/ops for everything else, and the
// whole-network inference plan (inference_plan*.cpp). Each file holds a group of ops as free
// functions and fills their entries of the op table (src/core/backend_impl.h) in its add_*_ops;
// the front (useg::Backend) has checked every argument before they run.
#pragma once

#include <memory>

#include "core/backend_impl.h"

namespace useg::cpu {

struct DnnlContext;  // oneDNN engine, stream and primitive cache (src/cpu/dnnl_context.h)

class CpuBackend final : public BackendImpl {
 public:
  explicit CpuBackend(const BackendOptions& opts);  // cpu_backend.cpp
  ~CpuBackend() override;

  Device device() const override { return Device::CPU; }
  std::string name() const override { return "cpu"; }
  std::unique_ptr<InferencePlan> compile(const nn::Graph& graph,
                                         const Shape& input) override;  // inference_plan.cpp
  DnnlContext& dnnl() { return *m_dnnl; }

 private:
  std::unique_ptr<DnnlContext> m_dnnl;
  bool m_winograd = true;  // BackendOptions::conv_algorithm != "direct"
};

// The CpuBackend an op runs on (every CPU op's BackendImpl is one).
inline CpuBackend& cpu(BackendImpl& b) { return static_cast<CpuBackend&>(b); }

// Each file's ops into the table.
void add_conv_ops(BackendOps& t);           // dnnl_conv.cpp
void add_conv_training_ops(BackendOps& t);  // dnnl_conv_train.cpp
void add_deconv_ops(BackendOps& t);         // dnnl_deconv.cpp
void add_pool_ops(BackendOps& t);           // dnnl_pool.cpp
void add_norm_ops(BackendOps& t);           // norm.cpp
void add_elementwise_ops(BackendOps& t);    // elementwise.cpp
void add_loss_ops(BackendOps& t);           // loss.cpp
void add_optim_ops(BackendOps& t);          // optim.cpp
void add_window_ops(BackendOps& t);         // window.cpp
void add_flip_ops(BackendOps& t);           // flip.cpp
void add_global_pool_ops(BackendOps& t);    // global_pool.cpp

}  // namespace useg::cpu
