// cudacpu executes our kernels on the CPU but cannot run cuDNN, so the cudacpu test binary is
// linked with this make_cudnn_conv instead of cuda/cudnn_conv.cpp: the CUDA backend is complete,
// and every convolution op throws a message the tests recognize (they then report SKIPPED).
#include "cuda/cudnn_conv.h"
#include "useg/error.h"

namespace useg::gpu {
namespace {

class CudnnUnavailable final : public CudnnConv {
 public:
  void run(const char* op, ConvRoutine, const ConvProblem&, const void*, const void*,
           void*) override {
    USEG_THROW(op << ": cuDNN unavailable under cudacpu (convolutions run only on a GPU)");
  }
};

}  // namespace

std::unique_ptr<CudnnConv> make_cudnn_conv(cudaStream_t, DeviceAllocator&, Precision) {
  return std::make_unique<CudnnUnavailable>();
}

}  // namespace useg::gpu
