// The single-process communicator, the launcher's environment, and the process's communicator.
#include "dist/communicator.h"

#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "useg/error.h"

namespace useg::dist {

#ifdef USEG_HAVE_MPI
std::unique_ptr<Communicator> make_mpi_communicator();  // dist/mpi_communicator.cpp
#endif

void Communicator::allreduce_mean(float* data, size_t count) {
  allreduce_sum(data, count);
  if (size() == 1) return;
  const float inv = 1.0f / float(size());
  for (size_t i = 0; i < count; ++i) data[i] *= inv;
}

void Communicator::allreduce_tensor(Tensor& t) {
  if (size() == 1 || !t.defined()) return;
  if (t.device() == Device::CPU) return allreduce_sum(t.data(), size_t(t.numel()));
  Tensor h = t.to(Device::CPU);
  allreduce_sum(h.data(), size_t(h.numel()));
  t = h.to(t.device());
}

void Communicator::allreduce_start(float* data, size_t count, Device device) {
  USEG_REQUIRE(sums_in_place(device), description() << " cannot sum " << device_name(device)
                                                    << " memory in place (allreduce_start)");
  allreduce_sum(data, count);
}

void SingleProcess::abort(const std::string& message) {
  std::fprintf(stderr, "useg: error: %s\n", message.c_str());
  std::fflush(stderr);
  std::_Exit(2);
}

namespace {

// A positive integer from the environment variable `name`, or 0 when it is unset; throws when it
// is set to something else.
int env_count(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return 0;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  USEG_REQUIRE(end && *end == '\0' && n >= 0 && n < (1L << 24),
               "environment variable " << name << "='" << v << "' is not a process count or rank");
  return int(n);
}

}  // namespace

LaunchInfo launch_info() {
  static const char* const kSize[][3] = {
      {"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK"},
      {"PMI_SIZE", "PMI_RANK", "MPI_LOCALRANKID"},
      {"SLURM_STEP_NUM_TASKS", "SLURM_PROCID", "SLURM_LOCALID"}};
  LaunchInfo info;
  for (const auto& v : kSize) {
    int n = env_count(v[0]);
    if (n > 0) {
      info.size = n;
      info.rank = env_count(v[1]);
      info.local_rank = env_count(v[2]);
      if (info.local_rank == 0 && std::getenv("SLURM_LOCALID"))  // MPICH under srun
        info.local_rank = env_count("SLURM_LOCALID");
      info.variable = v[0];
      return info;
    }
  }
  return info;
}

bool mpi_built() {
#ifdef USEG_HAVE_MPI
  return true;
#else
  return false;
#endif
}

Communicator& world() {
  static std::unique_ptr<Communicator> comm;
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  if (comm) return *comm;
  LaunchInfo launch = launch_info();
  if (launch.size <= 1) {
    comm = std::make_unique<SingleProcess>();
    return *comm;
  }
#ifdef USEG_HAVE_MPI
  comm = make_mpi_communicator();
  return *comm;
#else
  USEG_THROW("this process is rank " << launch.rank << " of " << launch.size << " ("
             << launch.variable << "=" << launch.size
             << "), but this useg was built without MPI and cannot train data-parallel: the "
                "processes would train separate models and overwrite each other's files. "
                "Rebuild with MPI (install libopenmpi-dev and configure with -DUSEG_WITH_MPI=ON), "
                "or start a single process");
#endif
}

uint64_t fnv1a(const std::string& s, uint64_t h) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace useg::dist
