#include "cuda/cuda_check.h"

#include <sstream>

#include "useg/error.h"

namespace useg::gpu::detail {

void throw_cuda_error(cudaError_t e, const char* call, const char* file, int line) {
  std::ostringstream os;
  os << "CUDA error " << cudaGetErrorName(e) << " (" << cudaGetErrorString(e) << ") in `" << call
     << "` at " << file << ":" << line;
  throw Error(os.str());
}

}  // namespace useg::gpu::detail
