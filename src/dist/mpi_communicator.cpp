// The MPI communicator: MPI_COMM_WORLD of the processes mpirun or srun started. Buffers are CPU
// memory (the trainer copies a CUDA gradient bucket to the host first; CUDA-aware MPI is not
// used: the NCCL communicator sums GPU tensors). Compiled only when CMake found MPI (USEG_HAVE_MPI).
// Only MPI's C API: keep the deprecated C++ bindings out (and their library off the link line).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <memory>
#include <sstream>
#include <vector>

#include "dist/communicator.h"
#include "useg/error.h"

namespace useg::dist {

namespace {

void check(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  USEG_THROW(call << " failed: " << std::string(text, size_t(len)));
}

// MPI counts are int: long buffers go in pieces.
constexpr size_t kMaxCount = size_t(INT_MAX) / 2;

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      // Only the calling thread makes MPI calls (OpenMP and the data loader's threads never do).
      int provided = 0;
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      m_owns = true;
    }
    // Errors come back as return codes (turned into exceptions) instead of ending the job.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &m_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &m_size);
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(version, &len);
    std::string v(version, size_t(len));
    m_description = "MPI (" + v.substr(0, v.find_first_of(",\n")) + ")";
  }
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (m_owns && !finalized) MPI_Finalize();
  }
  int rank() const override { return m_rank; }
  int size() const override { return m_size; }
  void allreduce_sum(float* data, size_t count) override {
    for (size_t i = 0; i < count; i += kMaxCount)
      check(MPI_Allreduce(MPI_IN_PLACE, data + i, int(std::min(kMaxCount, count - i)), MPI_FLOAT,
                          MPI_SUM, MPI_COMM_WORLD),
            "MPI_Allreduce");
  }
  void allreduce_sum(double* data, size_t count) override {
    for (size_t i = 0; i < count; i += kMaxCount)
      check(MPI_Allreduce(MPI_IN_PLACE, data + i, int(std::min(kMaxCount, count - i)), MPI_DOUBLE,
                          MPI_SUM, MPI_COMM_WORLD),
            "MPI_Allreduce");
  }
  // MPI_Iallreduce on host memory: Open MPI's non-blocking collectives advance inside MPI calls,
  // so the trainer calls progress() as it packs each gradient.
  void allreduce_start(float* data, size_t count, Device device) override {
    USEG_REQUIRE(device == Device::CPU, "MPI sums host memory only (allreduce_start of "
                                            << device_name(device) << " memory)");
    for (size_t i = 0; i < count; i += kMaxCount) {
      m_requests.push_back(MPI_REQUEST_NULL);
      check(MPI_Iallreduce(MPI_IN_PLACE, data + i, int(std::min(kMaxCount, count - i)), MPI_FLOAT,
                           MPI_SUM, MPI_COMM_WORLD, &m_requests.back()),
            "MPI_Iallreduce");
    }
  }
  void progress() override {
    if (m_requests.empty()) return;
    int done = 0;
    check(MPI_Testall(int(m_requests.size()), m_requests.data(), &done, MPI_STATUSES_IGNORE),
          "MPI_Testall");
    if (done) m_requests.clear();
  }
  void wait_all() override {
    if (m_requests.empty()) return;
    std::vector<MPI_Request> requests;
    requests.swap(m_requests);
    check(MPI_Waitall(int(requests.size()), requests.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
  }
  void broadcast(void* data, size_t bytes, int root) override {
    char* p = static_cast<char*>(data);
    for (size_t i = 0; i < bytes; i += kMaxCount)
      check(MPI_Bcast(p + i, int(std::min(kMaxCount, bytes - i)), MPI_BYTE, root, MPI_COMM_WORLD),
            "MPI_Bcast");
  }
  void barrier() override { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }
  [[noreturn]] void abort(const std::string& message) override {
    std::fprintf(stderr, "useg: error (rank %d of %d): %s\nuseg: ending every rank (MPI_Abort)\n",
                 m_rank, m_size, message.c_str());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 2);
    std::_Exit(2);  // MPI_Abort does not return; this is for the compiler
  }
  std::string description() const override { return m_description; }

 private:
  int m_rank = 0, m_size = 1;
  bool m_owns = false;
  std::string m_description;
  std::vector<MPI_Request> m_requests;  // started by allreduce_start, not yet waited for
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator() {
  return std::make_unique<MpiCommunicator>();
}

}  // namespace useg::dist
