// Convolution and transposed convolution on CUDA (the front has checked the arguments): the
// mapping of each op onto one cuDNN routine (cuda/host/conv_problem.h), the casts of the fp16/bf16
// mode (src/ops/channels_last), and the bias (our kernels: bias_add, kernels.cu, and a
// deterministic row reduction for dbias). The cuDNN calls themselves are in
// cuda/cudnn_conv.cpp.
#include <cuda_runtime_api.h>

#include "cuda/cuda_backend.h"
#include "cuda/cuda_check.h"
#include "cuda/host/launch_config.h"
#include "ops/channels_last/launch.h"
#include "ops/conv/launch.h"
#include "ops/elementwise/launch.h"

namespace useg::gpu {
namespace {


// t [N, C, S] float32 (an activation, or a filter [K, C, k]) -> [N, S, C] half / bfloat16 and
// back: the NDHWC operands of the mixed-precision convolutions (conv_layout), transposed inside
// the casts, so channels-last costs no extra pass over memory.
void cast_to_half_ndhwc(Precision p, const Tensor& t, void* y, cudaStream_t s) {
  const Shape& sh = t.shape();
  if (p == Precision::Fp16)
    launch_float_to_half_ndhwc(t.data(), y, sh.n(), sh.c(), sh.spatial(), s);
  else
    launch_float_to_bf16_ndhwc(t.data(), y, sh.n(), sh.c(), sh.spatial(), s);
}
void cast_to_float_ncdhw(Precision p, const void* x, Tensor& t, cudaStream_t s) {
  const Shape& sh = t.shape();
  if (p == Precision::Fp16)
    launch_half_ndhwc_to_float(x, t.data(), sh.n(), sh.c(), sh.spatial(), s);
  else
    launch_bf16_ndhwc_to_float(x, t.data(), sh.n(), sh.c(), sh.spatial(), s);
}

// A convolution with an empty operand (N = 0 or C = 0): every output is zero (and cuDNN rejects
// zero-sized descriptors).
bool empty_problem(const Tensor& a, const Tensor& b, Tensor& out, cudaStream_t s) {
  if (a.numel() > 0 && b.numel() > 0) return false;
  if (out.numel() > 0) USEG_CUDA_CHECK(cudaMemsetAsync(out.data(), 0, out.bytes(), s));
  return true;
}

// One cuDNN routine in the backend's precision: fp16/bf16 cast the operands around the call.
void run_conv(CudaBackend& be, const char* op, const ConvCall& call, const Tensor& in0,
              const Tensor& in1, Tensor& out) {
  const Tensor& a = call.swap_inputs ? in1 : in0;
  const Tensor& b = call.swap_inputs ? in0 : in1;
  const ConvRoutine routine = call.routine;
  const ConvProblem& p = call.problem;
  if (empty_problem(a, b, out, be.stream())) return;
  const Precision precision = be.precision();
  if (!is_half(precision)) {
    be.cudnn().run(op, routine, p, a.data(), b.data(), out.data());
    return;
  }
  // Mixed precision: NDHWC half / bfloat16 copies of the operands (filters [K, k, C]), float
  // accumulation inside cuDNN on channels-last descriptors, the result cast back to NCDHW
  // float32 (2 bytes per element).
  DeviceAllocator& alloc = be.allocator();
  DeviceBuffer ah(alloc, size_t(a.numel()) * 2), bh(alloc, size_t(b.numel()) * 2);
  DeviceBuffer oh(alloc, size_t(out.numel()) * 2);
  cast_to_half_ndhwc(precision, a, ah.as<void>(), be.stream());
  cast_to_half_ndhwc(precision, b, bh.as<void>(), be.stream());
  be.cudnn().run(op, routine, p, ah.as<void>(), bh.as<void>(), oh.as<void>());
  cast_to_float_ncdhw(precision, oh.as<void>(), out, be.stream());
}

// dbias[c] = sum of dy over n and the voxels (deterministic row reduction).
void bias_gradient(CudaBackend& be, const Tensor& dy, Tensor& dbias) {
  const Shape& s = dy.shape();
  const RowLayout l{s.c(), s.n(), s.spatial(), s.spatial(), s.c() * s.spatial()};
  if (l.rows == 0) return;
  if (l.row_elements() == 0) {
    launch_fill(dbias.data(), l.rows, 0.f, be.stream());
    return;
  }
  DeviceBuffer partials(be.allocator(), size_t(reduce_partials_size(l, 1)) * sizeof(double));
  launch_row_sum(dy.data(), l, partials.as<double>(), be.stream());
  launch_row_totals(partials.as<double>(), l.rows, reduce_chunks(l.row_elements()), 1, nullptr,
                    dbias.data(), be.stream());
}

}  // namespace

// ------------------------------------------------------------------------------ convolution

void conv_forward(BackendImpl& impl, const Tensor& x, const Tensor& w, const Tensor* bias,
                  Tensor& y, const ConvGeom& g) {
  CudaBackend& be = cuda(impl);
  const char* op = "conv_forward";
  const ConvCall call = conv_call(op, ConvPass::Forward, false, x.shape(), w.shape(), y.shape(), g);
  run_conv(be, op, call, x, w, y);
  const Shape& s = y.shape();
  if (bias) launch_bias_add(y.data(), bias->data(), s.n(), s.c(), s.spatial(), be.stream());
}

void conv_backward_data(BackendImpl& impl, const Tensor& dy, const Tensor& w, Tensor& dx,
                        const ConvGeom& g) {
  CudaBackend& be = cuda(impl);
  const char* op = "conv_backward_data";
  const ConvCall call =
      conv_call(op, ConvPass::BackwardData, false, dx.shape(), w.shape(), dy.shape(), g);
  run_conv(be, op, call, dy, w, dx);
}

void conv_backward_weights(BackendImpl& impl, const Tensor& x, const Tensor& dy, Tensor& dw,
                           Tensor* dbias, const ConvGeom& g) {
  CudaBackend& be = cuda(impl);
  const char* op = "conv_backward_weights";
  const ConvCall call =
      conv_call(op, ConvPass::BackwardWeights, false, x.shape(), dw.shape(), dy.shape(), g);
  run_conv(be, op, call, x, dy, dw);
  if (dbias) bias_gradient(be, dy, *dbias);
}

// ------------------------------------------------------------------- transposed convolution

void deconv_forward(BackendImpl& impl, const Tensor& x, const Tensor& w, const Tensor* bias,
                    Tensor& y, const ConvGeom& g) {
  CudaBackend& be = cuda(impl);
  const char* op = "deconv_forward";
  const ConvCall call = conv_call(op, ConvPass::Forward, true, x.shape(), w.shape(), y.shape(), g);
  run_conv(be, op, call, x, w, y);
  const Shape& s = y.shape();
  if (bias) launch_bias_add(y.data(), bias->data(), s.n(), s.c(), s.spatial(), be.stream());
}

void deconv_backward_data(BackendImpl& impl, const Tensor& dy, const Tensor& w, Tensor& dx,
                          const ConvGeom& g) {
  CudaBackend& be = cuda(impl);
  const char* op = "deconv_backward_data";
  const ConvCall call =
      conv_call(op, ConvPass::BackwardData, true, dx.shape(), w.shape(), dy.shape(), g);
  run_conv(be, op, call, dy, w, dx);
}

void deconv_backward_weights(BackendImpl& impl, const Tensor& x, const Tensor& dy, Tensor& dw,
                             Tensor* dbias, const ConvGeom& g) {
  CudaBackend& be = cuda(impl);
  const char* op = "deconv_backward_weights";
  const ConvCall call =
      conv_call(op, ConvPass::BackwardWeights, true, x.shape(), dw.shape(), dy.shape(), g);
  run_conv(be, op, call, x, dy, dw);
  if (dbias) bias_gradient(be, dy, *dbias);
}

void add_conv_ops(BackendOps& t) {
  t.conv_forward = conv_forward;
  t.conv_backward_data = conv_backward_data;
  t.conv_backward_weights = conv_backward_weights;
  t.deconv_forward = deconv_forward;
  t.deconv_backward_data = deconv_backward_data;
  t.deconv_backward_weights = deconv_backward_weights;
}

}  // namespace useg::gpu
