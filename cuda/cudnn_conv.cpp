// Every cuDNN call of the convolution ops (legacy convolution API; why: cuda/README.md).
// A plan per ConvKey holds the descriptors, the chosen algorithm and its workspace size; it is
// made once (cudnnGetConvolution*Algorithm_v7 heuristics) and reused on every later call.
// Algorithm policy: the first algorithm, in cuDNN's order of expected speed, that succeeded in
// the heuristic query, is deterministic, uses an allowed math mode and needs at most
// kMaxWorkspace bytes. Math modes: fp32 = CUDNN_FMA_MATH only (no TF32); tf32 = default or
// tensor-op math on float data; fp16/bf16 = tensor-op math on half data with float
// accumulation, on NDHWC tensors and CUDNN_TENSOR_NHWC filters (conv_layout).
// CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION (float data silently rounded to half) is never used.
#include <vector>

#include "cuda/cudnn_conv.h"
#include "cuda/cudnn_handle.h"
#include "cuda/host/plan_cache.h"
#include "useg/error.h"

namespace useg::gpu {
namespace {

constexpr size_t kMaxWorkspace = size_t(1) << 30;

// The descriptors of problem p (4-D for a 2-D problem: cudnn_dims).
struct Plan {
  Plan(const CudnnDims& d, cudnnDataType_t type, TensorLayout l)
      : x(d.rank, d.x, d.x_strides, type),
        y(d.rank, d.y, d.y_strides, type),
        w(d.rank, d.w, type, l),
        conv(d.rank - 2, d.pad, d.stride, d.dilation) {}
  TensorDesc x, y;
  FilterDesc w;
  ConvDesc conv;
  int algo = -1;
  size_t workspace = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};

cudnnDataType_t data_type(Precision p) {
  return p == Precision::Fp16 ? CUDNN_DATA_HALF
         : p == Precision::Bf16 ? CUDNN_DATA_BFLOAT16
                                : CUDNN_DATA_FLOAT;
}

bool math_allowed(Precision p, cudnnMathType_t m) {
  if (m == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) return false;
  if (p == Precision::Fp32) return m == CUDNN_FMA_MATH;
  return true;
}

// The first acceptable entry of a heuristic result list (see the policy above).
template <class Perf>
const Perf* pick(const std::vector<Perf>& perf, int returned, Precision precision) {
  for (int i = 0; i < returned; ++i) {
    const Perf& q = perf[size_t(i)];
    if (q.status == CUDNN_STATUS_SUCCESS && q.determinism == CUDNN_DETERMINISTIC &&
        math_allowed(precision, q.mathType) && q.memory <= kMaxWorkspace)
      return &q;
  }
  return nullptr;
}

class CudnnConvImpl final : public CudnnConv {
 public:
  CudnnConvImpl(cudaStream_t stream, DeviceAllocator& allocator, Precision precision)
      : m_handle(stream), m_allocator(allocator), m_precision(precision) {}

  void run(const char* op, ConvRoutine routine, const ConvProblem& p, const void* a,
           const void* b, void* out) override {
    const ConvKey key{p, routine, m_precision, conv_layout(m_precision)};
    const std::unique_ptr<Plan>& plan = m_plans.get(key, [&] { return make_plan(op, key); });
    DeviceBuffer workspace(m_allocator, plan->workspace);
    const float one = 1.f, zero = 0.f;
    const cudnnHandle_t h = m_handle.get();
    switch (routine) {
      case ConvRoutine::Forward:
        USEG_CUDNN_CHECK(cudnnConvolutionForward(
            h, &one, plan->x.get(), a, plan->w.get(), b, plan->conv.get(),
            cudnnConvolutionFwdAlgo_t(plan->algo), workspace.as<void>(), plan->workspace, &zero,
            plan->y.get(), out));
        return;
      case ConvRoutine::BackwardData:
        USEG_CUDNN_CHECK(cudnnConvolutionBackwardData(
            h, &one, plan->w.get(), a, plan->y.get(), b, plan->conv.get(),
            cudnnConvolutionBwdDataAlgo_t(plan->algo), workspace.as<void>(), plan->workspace,
            &zero, plan->x.get(), out));
        return;
      case ConvRoutine::BackwardFilter:
        USEG_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
            h, &one, plan->x.get(), a, plan->y.get(), b, plan->conv.get(),
            cudnnConvolutionBwdFilterAlgo_t(plan->algo), workspace.as<void>(), plan->workspace,
            &zero, plan->w.get(), out));
        return;
    }
  }

 private:
  std::unique_ptr<Plan> make_plan(const char* op, const ConvKey& key) {
    auto plan = std::make_unique<Plan>(cudnn_dims(key.problem, key.layout, cudnn_allow_2d()),
                                       data_type(m_precision), key.layout);
    // The math type the query starts from; the chosen algorithm's own type is set afterwards.
    plan->conv.set_math(m_precision == Precision::Fp32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH);
    const cudnnHandle_t h = m_handle.get();
    int count = 0, returned = 0;
    bool found = false;
    switch (key.routine) {
      case ConvRoutine::Forward: {
        USEG_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &count));
        std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(size_t(count > 0 ? count : 1));
        USEG_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(
            h, plan->x.get(), plan->w.get(), plan->conv.get(), plan->y.get(), count, &returned,
            perf.data()));
        if (const auto* q = pick(perf, returned, m_precision)) {
          plan->algo = int(q->algo);
          plan->math = q->mathType;
          plan->conv.set_math(q->mathType);
          USEG_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(
              h, plan->x.get(), plan->w.get(), plan->conv.get(), plan->y.get(), q->algo,
              &plan->workspace));
          found = true;
        }
        break;
      }
      case ConvRoutine::BackwardData: {
        USEG_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &count));
        std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(size_t(count > 0 ? count : 1));
        USEG_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
            h, plan->w.get(), plan->y.get(), plan->conv.get(), plan->x.get(), count, &returned,
            perf.data()));
        if (const auto* q = pick(perf, returned, m_precision)) {
          plan->algo = int(q->algo);
          plan->math = q->mathType;
          plan->conv.set_math(q->mathType);
          USEG_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(
              h, plan->w.get(), plan->y.get(), plan->conv.get(), plan->x.get(), q->algo,
              &plan->workspace));
          found = true;
        }
        break;
      }
      case ConvRoutine::BackwardFilter: {
        USEG_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &count));
        std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(size_t(count > 0 ? count : 1));
        USEG_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
            h, plan->x.get(), plan->y.get(), plan->conv.get(), plan->w.get(), count, &returned,
            perf.data()));
        if (const auto* q = pick(perf, returned, m_precision)) {
          plan->algo = int(q->algo);
          plan->math = q->mathType;
          plan->conv.set_math(q->mathType);
          USEG_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(
              h, plan->x.get(), plan->y.get(), plan->conv.get(), plan->w.get(), q->algo,
              &plan->workspace));
          found = true;
        }
        break;
      }
    }
    USEG_CHECK(found, op << ": cuDNN offers no deterministic algorithm within "
                         << (kMaxWorkspace >> 20) << " MiB of workspace for " << to_string(key)
                         << " (" << returned << " candidates)");
    return plan;
  }

  CudnnHandle m_handle;
  DeviceAllocator& m_allocator;
  Precision m_precision;
  PlanCache<std::unique_ptr<Plan>> m_plans;
};

}  // namespace

std::unique_ptr<CudnnConv> make_cudnn_conv(cudaStream_t stream, DeviceAllocator& allocator,
                                           Precision precision) {
  return std::make_unique<CudnnConvImpl>(stream, allocator, precision);
}

}  // namespace useg::gpu
