// The NCCL communicator (dist::make_nccl_communicator, src/dist/communicator.h): CUDA tensors are
// summed in place by ncclAllReduce on the training backend's compute stream, so the all-reduce is
// ordered after the ops that packed the gradient bucket and before those that read it, with no
// host copy and no synchronization; everything else (rank, size, the host collectives, abort) is
// the process's communicator's, which also carries NCCL's unique id from rank 0 to the others.
// The sums that overlap the backward pass (allreduce_start) run on a second stream instead: each
// waits for an event recorded on the compute stream when it is started (its gradients are
// packed), and wait_all makes the compute stream wait for all of them, so the backward kernels
// queued meanwhile run beside the transfers.
//
// NCCL is loaded with dlopen at the first use, not linked: a CUDA build of useg starts, segments
// and trains on one GPU on a machine without NCCL, and the bundle (scripts/bundle.sh) does not
// carry it (about 250 MB; the CUDA toolkit and PyTorch's nvidia-nccl-cu13 wheel ship it).
// Compiled only in a CUDA build, outside cuda/*.cpp: cudacpu cannot run NCCL.
#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <link.h>
#include <nccl.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>

#include "cuda/cuda_backend.h"
#include "dist/communicator.h"
#include "useg/backend.h"
#include "useg/error.h"

namespace useg::dist {

namespace {

// The NCCL functions useg calls, from the loaded library.
struct NcclLibrary {
  std::string path;
  int version = 0;
  decltype(&ncclGetVersion) get_version = nullptr;
  decltype(&ncclGetUniqueId) get_unique_id = nullptr;
  decltype(&ncclCommInitRank) comm_init_rank = nullptr;
  decltype(&ncclAllReduce) all_reduce = nullptr;
  decltype(&ncclCommDestroy) comm_destroy = nullptr;
  decltype(&ncclCommAbort) comm_abort = nullptr;
  decltype(&ncclCommGetAsyncError) comm_async_error = nullptr;
  decltype(&ncclGetErrorString) error_string = nullptr;

  std::string describe() const {
    const int major = version / 10000, minor = version / 100 % 100, patch = version % 100;
    return "NCCL " + std::to_string(major) + "." + std::to_string(minor) + "." +
           std::to_string(patch) + " (" + path + ")";
  }
};

constexpr const char* kHowToGetNccl =
    "data-parallel training on CUDA sums the gradients with NCCL 2: install it (the CUDA "
    "toolkit's libnccl.so.2, or `pip install nvidia-nccl-cu13` and put that wheel's "
    "nvidia/nccl/lib on LD_LIBRARY_PATH), or set USEG_NCCL_LIBRARY to the library's path; "
    "or train with --dist-backend mpi (the gradients then go through host memory)";

template <class F>
void bind_symbol(void* handle, const std::string& path, const char* name, F* fn) {
  dlerror();
  *fn = reinterpret_cast<F>(dlsym(handle, name));
  USEG_CHECK(*fn, "the NCCL library " << path << " has no " << name
                                      << ": it is not NCCL 2 (" << kHowToGetNccl << ")");
}

// `file`, or USEG_NCCL_LIBRARY, or libnccl.so.2 from the library search path.
NcclLibrary load_library(const std::string& file) {
  const char* env = std::getenv("USEG_NCCL_LIBRARY");
  const bool from_env = file.empty() && env && *env;
  const std::string name = !file.empty() ? file : from_env ? env : "libnccl.so.2";
  void* handle = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = dlerror();
    USEG_THROW("cannot load NCCL (" << (from_env ? "USEG_NCCL_LIBRARY=" : "") << name
                                    << "): " << (why ? why : "dlopen failed") << ". "
                                    << kHowToGetNccl);
  }
  NcclLibrary lib;
  lib.path = name;
  link_map* map = nullptr;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map && map->l_name && *map->l_name)
    lib.path = map->l_name;
  bind_symbol(handle, lib.path, "ncclGetVersion", &lib.get_version);
  bind_symbol(handle, lib.path, "ncclGetUniqueId", &lib.get_unique_id);
  bind_symbol(handle, lib.path, "ncclCommInitRank", &lib.comm_init_rank);
  bind_symbol(handle, lib.path, "ncclAllReduce", &lib.all_reduce);
  bind_symbol(handle, lib.path, "ncclCommDestroy", &lib.comm_destroy);
  bind_symbol(handle, lib.path, "ncclCommAbort", &lib.comm_abort);
  bind_symbol(handle, lib.path, "ncclCommGetAsyncError", &lib.comm_async_error);
  bind_symbol(handle, lib.path, "ncclGetErrorString", &lib.error_string);
  USEG_CHECK(lib.get_version(&lib.version) == ncclSuccess,
             "ncclGetVersion failed in " << lib.path);
  // The ABI useg was compiled against (nccl.h) is NCCL 2's; codes are major*10000 + minor*100
  // + patch since 2.9.
  USEG_CHECK(lib.version / 10000 == NCCL_MAJOR,
             lib.path << " is NCCL version code " << lib.version << "; useg was built against NCCL "
                      << NCCL_MAJOR << "." << NCCL_MINOR << " (" << kHowToGetNccl << ")");
  return lib;  // the handle stays open until the process ends
}

// Loaded once per process; a failed load is retried (and reported) at each call.
const NcclLibrary& library() {
  static std::mutex mutex;
  static std::unique_ptr<NcclLibrary> lib;
  std::lock_guard<std::mutex> lock(mutex);
  if (!lib) lib = std::make_unique<NcclLibrary>(load_library(""));
  return *lib;
}

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(Communicator& host, Backend& backend) : m_host(host), m_lib(library()) {
    USEG_CHECK(backend.device() == Device::CUDA,
               "the NCCL communicator needs a CUDA backend, not " << backend.name()
                   << " (--dist-backend nccl goes with --device cuda)");
    m_stream = gpu::cuda(backend.impl()).stream();  // also makes the backend's GPU current
    cuda_check(cudaStreamCreateWithFlags(&m_comm_stream, cudaStreamNonBlocking),
               "cudaStreamCreateWithFlags");
    cuda_check(cudaEventCreateWithFlags(&m_packed, cudaEventDisableTiming), "cudaEventCreate");
    cuda_check(cudaEventCreateWithFlags(&m_summed, cudaEventDisableTiming), "cudaEventCreate");
    ncclUniqueId id{};
    if (host.rank() == 0) check(m_lib.get_unique_id(&id), "ncclGetUniqueId");
    host.broadcast(&id, sizeof id, 0);
    check(m_lib.comm_init_rank(&m_comm, host.size(), id, host.rank()), "ncclCommInitRank");
  }
  ~NcclCommunicator() override {
    if (m_comm) m_lib.comm_destroy(m_comm);
    if (m_packed) cudaEventDestroy(m_packed);
    if (m_summed) cudaEventDestroy(m_summed);
    if (m_comm_stream) cudaStreamDestroy(m_comm_stream);
  }

  int rank() const override { return m_host.rank(); }
  int size() const override { return m_host.size(); }
  void allreduce_sum(float* data, size_t count) override { m_host.allreduce_sum(data, count); }
  void allreduce_sum(double* data, size_t count) override { m_host.allreduce_sum(data, count); }
  void allreduce_tensor(Tensor& t) override {
    if (!t.defined() || t.device() != Device::CUDA) return m_host.allreduce_tensor(t);
    check_async();
    check(m_lib.all_reduce(t.data(), t.data(), size_t(t.numel()), ncclFloat32, ncclSum, m_comm,
                           m_stream),
          "ncclAllReduce");
  }
  bool sums_in_place(Device device) const override {
    return device == Device::CUDA || m_host.sums_in_place(device);
  }
  void allreduce_start(float* data, size_t count, Device device) override {
    if (device != Device::CUDA) return m_host.allreduce_start(data, count, device);
    check_async();
    cuda_check(cudaEventRecord(m_packed, m_stream), "cudaEventRecord");
    cuda_check(cudaStreamWaitEvent(m_comm_stream, m_packed, 0), "cudaStreamWaitEvent");
    check(m_lib.all_reduce(data, data, count, ncclFloat32, ncclSum, m_comm, m_comm_stream),
          "ncclAllReduce");
    m_started = true;
  }
  void wait_all() override {
    m_host.wait_all();
    if (!m_started) return;
    m_started = false;
    cuda_check(cudaEventRecord(m_summed, m_comm_stream), "cudaEventRecord");
    cuda_check(cudaStreamWaitEvent(m_stream, m_summed, 0), "cudaStreamWaitEvent");
  }
  void progress() override { m_host.progress(); }
  void broadcast(void* data, size_t bytes, int root) override {
    m_host.broadcast(data, bytes, root);
  }
  void barrier() override { m_host.barrier(); }
  [[noreturn]] void abort(const std::string& message) override {
    // Ends this rank's NCCL work first: a collective the other ranks never join would block.
    if (m_comm) m_lib.comm_abort(m_comm);
    m_comm = nullptr;
    m_host.abort(message);
    std::_Exit(2);  // not reached: the host communicator's abort ends the process
  }
  std::string description() const override {
    return m_lib.describe() + " over " + m_host.description();
  }

 private:
  // Errors of an earlier asynchronous call surface here at the latest.
  void check_async() const {
    ncclResult_t async = ncclSuccess;
    check(m_lib.comm_async_error(m_comm, &async), "ncclCommGetAsyncError");
    check(async, "an earlier NCCL operation");
  }
  void cuda_check(cudaError_t rc, const char* call) const {
    USEG_CHECK(rc == cudaSuccess, call << " failed (rank " << m_host.rank() << " of "
                                       << m_host.size() << "): " << cudaGetErrorString(rc));
  }
  void check(ncclResult_t rc, const char* call) const {
    USEG_CHECK(rc == ncclSuccess, call << " failed (rank " << m_host.rank() << " of "
                                       << m_host.size() << "): " << m_lib.error_string(rc));
  }

  Communicator& m_host;
  const NcclLibrary& m_lib;
  cudaStream_t m_stream = nullptr;       // the backend's compute stream
  cudaStream_t m_comm_stream = nullptr;  // the overlapping sums (allreduce_start)
  cudaEvent_t m_packed = nullptr, m_summed = nullptr;
  bool m_started = false;  // an allreduce_start since the last wait_all
  ncclComm_t m_comm = nullptr;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(Communicator& host, Backend& backend) {
  return std::make_unique<NcclCommunicator>(host, backend);
}

std::string nccl_library(const std::string& file) {
  return file.empty() ? library().describe() : load_library(file).describe();
}

}  // namespace useg::dist
