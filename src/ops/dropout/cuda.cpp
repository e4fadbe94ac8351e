// Dropout on CUDA (checked by the front): one kernel over ops/dropout/dropout.h, whose
// counter-based mask is the CPU backend's bit for bit.
#include "cuda/cuda_backend.h"
#include "ops/dropout/launch.h"

namespace useg::gpu {

void dropout_forward(BackendImpl& impl, const Tensor& x, float p, uint64_t seed, Tensor& y,
                     Tensor& mask) {
  CudaBackend& be = cuda(impl);
  launch_dropout(x.data(), p, seed, y.data(), mask.data(), x.numel(), be.stream());
}

void add_dropout_ops(BackendOps& t) {
  t.dropout_forward = dropout_forward;
}

}  // namespace useg::gpu
