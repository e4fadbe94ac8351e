// The processes of a data-parallel training run, behind one interface: the rank of this process,
// how many there are, and the few collectives the trainer needs. A run started without a launcher
// gets the single-process communicator (every collective is the identity); under mpirun or srun
// (more than one process) a build with MPI gets the MPI one (dist/mpi_communicator.cpp), and a
// build without MPI refuses to start, since its N processes would train N unrelated models.
// A CUDA training run adds the NCCL communicator on top of that one (make_nccl_communicator): it
// sums GPU tensors in place and leaves everything else to the process's communicator.
//
// Every collective must be called by every rank, in the same order, with the same sizes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "useg/tensor.h"

namespace useg {
class Backend;
}

namespace useg::dist {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Element-wise sum / mean over the ranks, in place; every rank receives the same result.
  virtual void allreduce_sum(float* data, size_t count) = 0;
  virtual void allreduce_sum(double* data, size_t count) = 0;
  void allreduce_mean(float* data, size_t count);
  // Element-wise sum over the ranks of a tensor on any device, in place (`t` may be replaced by
  // a tensor of the same shape and device). This one stages a device tensor through host memory;
  // the NCCL communicator sums CUDA tensors where they are.
  virtual void allreduce_tensor(Tensor& t);
  // Sums that overlap the backward pass (train/gradient_bucket.h). allreduce_start starts the
  // in-place sum of `count` floats at `data`, memory of `device`, and may return before it is
  // done; wait_all() completes every sum started (on a GPU: orders them before the compute
  // stream's next op). Nothing started may be read before wait_all(), and every rank starts the
  // same sums in the same order. sums_in_place(device) says whether allreduce_start takes that
  // device's memory (where not, the caller sums with allreduce_tensor). progress() lets started
  // sums advance (MPI's non-blocking collectives move inside MPI calls). The defaults sum host
  // memory at once.
  virtual bool sums_in_place(Device device) const { return device == Device::CPU; }
  virtual void allreduce_start(float* data, size_t count, Device device);
  virtual void wait_all() {}
  virtual void progress() {}
  // Rank `root`'s bytes to every rank.
  virtual void broadcast(void* data, size_t bytes, int root) = 0;
  virtual void barrier() = 0;
  // Ends every process of the job with `message` (printed by this rank). Never returns. The one
  // place where library code ends the process: a rank that throws while the others wait in a
  // collective would otherwise hang the job until its time limit.
  [[noreturn]] virtual void abort(const std::string& message) = 0;
  // "MPI (Open MPI v4.1.4)", "single process".
  virtual std::string description() const = 0;
};

// One process: rank 0 of 1.
class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void allreduce_sum(float*, size_t) override {}
  void allreduce_sum(double*, size_t) override {}
  bool sums_in_place(Device) const override { return true; }
  void allreduce_start(float*, size_t, Device) override {}
  void broadcast(void*, size_t, int) override {}
  void barrier() override {}
  [[noreturn]] void abort(const std::string& message) override;
  std::string description() const override { return "single process"; }
};

// What the launcher's environment says: the number of processes started together, and the
// variable that said so ("" when none did: a plain start, 1 process). Read: OMPI_COMM_WORLD_SIZE
// (Open MPI's mpirun), PMI_SIZE (MPICH / Intel MPI, srun --mpi=pmi2), SLURM_STEP_NUM_TASKS
// (srun; not SLURM_NTASKS, which a batch script also sees where it runs one plain process).
// local_rank: the rank among the processes of this machine (OMPI_COMM_WORLD_LOCAL_RANK,
// MPI_LOCALRANKID, SLURM_LOCALID; 0 when none is set): a CUDA rank trains on GPU
// local_rank mod the number of GPUs it sees.
struct LaunchInfo {
  int size = 1;
  int rank = 0;
  int local_rank = 0;
  std::string variable;
};
LaunchInfo launch_info();

// True when this build can all-reduce across processes (MPI found at configure time).
bool mpi_built();

// The process's communicator, made on first use and kept until exit: single-process without a
// launcher (or a launch of 1), MPI otherwise. Throws useg::Error in a build without MPI started
// as one of N > 1 processes.
Communicator& world();

// The NCCL communicator of a CUDA training run: the ranks of `host` (whose collectives, abort and
// rank it keeps using), with NCCL's unique id sent from rank 0 over `host`, and CUDA tensors
// summed by ncclAllReduce on `backend`'s compute stream (no host copy, no synchronization).
// NCCL 2 is loaded at run time (libnccl.so.2, or the file USEG_NCCL_LIBRARY names), so a CUDA
// build runs without it until a run asks for it. Throws useg::Error naming what is missing: a
// build without CUDA, a backend that is not CUDA, or a library that cannot be loaded.
// cuda/nccl/nccl_communicator.cpp; src/core/no_cuda.cpp in a build without CUDA.
std::unique_ptr<Communicator> make_nccl_communicator(Communicator& host, Backend& backend);
// "NCCL 2.28.9 (/usr/local/cuda/lib/libnccl.so.2)": loads the library the communicator uses
// (once per process), or the given `file` (each call), and throws the same errors.
std::string nccl_library(const std::string& file = "");

// 64-bit FNV-1a, for comparing configs across ranks.
uint64_t fnv1a(const std::string& s, uint64_t h = 14695981039346656037ull);

}  // namespace useg::dist
