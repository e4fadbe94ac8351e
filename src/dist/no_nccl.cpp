// Built when useg has no NCCL communicator (a build without CUDA, or CUDA without nccl.h at
// configure time): a run that asks for NCCL gets a clear error.
#include "dist/communicator.h"
#include "useg/error.h"

namespace useg::dist {

namespace {
[[noreturn]] void unavailable() {
  USEG_THROW("this useg was built without NCCL (it needs a CUDA build with nccl.h found at "
             "configure time: the CUDA toolkit's, or NCCL_INCLUDE_DIR); train with "
             "--dist-backend mpi, or rebuild with -DUSEG_WITH_CUDA=ON");
}
}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(Communicator&, Backend&) { unavailable(); }

std::string nccl_library(const std::string&) { unavailable(); }

}  // namespace useg::dist
