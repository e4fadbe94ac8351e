// Built when useg is configured without CUDA: --device cuda gets a clear error, not a crash.
#include "useg/backend.h"
#include "useg/error.h"

namespace useg {

std::unique_ptr<Backend> make_cuda_backend(const BackendOptions&) {
  USEG_THROW("useg was built without CUDA support; rebuild with -DUSEG_WITH_CUDA=ON on a machine "
             "with the CUDA toolkit and cuDNN, or use --device cpu");
}

int cuda_device_count() { return 0; }

}  // namespace useg
