// The processes of a data-parallel training run, behind one interface: the rank of this process,
// how many there are, and the few collectives the trainer needs. A run started without a launcher
// gets the single-process communicator (every collective is the identity); under mpirun or srun
// (more than one process) a build with MPI gets the MPI one (dist/mpi_communicator.cpp), and a
// build without MPI refuses to start, since its N processes would train N unrelated models.
//
// Every collective must be called by every rank, in the same order, with the same sizes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

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
  void broadcast(void*, size_t, int) override {}
  void barrier() override {}
  [[noreturn]] void abort(const std::string& message) override;
  std::string description() const override { return "single process"; }
};

// What the launcher's environment says: the number of processes started together, and the
// variable that said so ("" when none did: a plain start, 1 process). Read: OMPI_COMM_WORLD_SIZE
// (Open MPI's mpirun), PMI_SIZE (MPICH / Intel MPI, srun --mpi=pmi2), SLURM_STEP_NUM_TASKS
// (srun; not SLURM_NTASKS, which a batch script also sees where it runs one plain process).
struct LaunchInfo {
  int size = 1;
  int rank = 0;
  std::string variable;
};
LaunchInfo launch_info();

// True when this build can all-reduce across processes (MPI found at configure time).
bool mpi_built();

// The process's communicator, made on first use and kept until exit: single-process without a
// launcher (or a launch of 1), MPI otherwise. Throws useg::Error in a build without MPI started
// as one of N > 1 processes.
Communicator& world();

// 64-bit FNV-1a, for comparing configs across ranks.
uint64_t fnv1a(const std::string& s, uint64_t h = 14695981039346656037ull);

}  // namespace useg::dist
