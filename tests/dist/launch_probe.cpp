// src/dist/communicator.cpp compiled without MPI (whatever the build found), against the
// launchers' environment variables: a plain start and a launch of 1 are one process; a launch of
// N > 1 is refused with a message that names the rank, N, the variable and the remedy.
// ctest: dist_launch_without_mpi. Exit 0 when every check holds.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "dist/communicator.h"
#include "useg/error.h"

namespace {

int failures = 0;

void expect(bool ok, const std::string& what) {
  std::printf("%s: %s\n", ok ? "ok  " : "FAIL", what.c_str());
  if (!ok) ++failures;
}

void clear() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "PMI_SIZE", "PMI_RANK",
                        "SLURM_STEP_NUM_TASKS", "SLURM_PROCID", "SLURM_NTASKS",
                        "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"})
    unsetenv(v);
}

// world() under the given variables: "" when it returned a communicator of size 1, else the
// error's message.
std::string world_under(std::initializer_list<std::pair<const char*, const char*>> env) {
  clear();
  for (const auto& [k, v] : env) setenv(k, v, 1);
  try {
    int n = useg::dist::world().size();
    return n == 1 ? "" : "size " + std::to_string(n);
  } catch (const useg::Error& e) {
    return e.what();
  }
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

int main() {
  expect(!useg::dist::mpi_built(), "this probe is built without MPI");
  std::string m = world_under({{"OMPI_COMM_WORLD_SIZE", "2"}, {"OMPI_COMM_WORLD_RANK", "1"}});
  std::printf("      mpirun -np 2: %s\n", m.c_str());
  expect(has(m, "rank 1 of 2") && has(m, "OMPI_COMM_WORLD_SIZE=2") && has(m, "without MPI") &&
             has(m, "-DUSEG_WITH_MPI=ON"),
         "mpirun -np 2 (Open MPI) is refused, naming rank, size, variable and remedy");
  m = world_under({{"PMI_SIZE", "4"}, {"PMI_RANK", "3"}});
  expect(has(m, "rank 3 of 4") && has(m, "PMI_SIZE=4"), "PMI_SIZE=4 (MPICH, srun pmi2) is refused");
  m = world_under({{"SLURM_STEP_NUM_TASKS", "3"}, {"SLURM_PROCID", "2"}});
  expect(has(m, "rank 2 of 3") && has(m, "SLURM_STEP_NUM_TASKS=3"), "srun -n 3 is refused");
  m = world_under({{"OMPI_COMM_WORLD_SIZE", "two"}});
  expect(has(m, "OMPI_COMM_WORLD_SIZE='two'"), "a malformed count is an error naming it");
  // (world() keeps the communicator it made first: the single-process cases below ask
  // launch_info(), what world() decides by, and end with world() itself.)
  auto size_under = [](std::initializer_list<std::pair<const char*, const char*>> env) {
    clear();
    for (const auto& [k, v] : env) setenv(k, v, 1);
    return useg::dist::launch_info().size;
  };
  expect(size_under({{"SLURM_NTASKS", "4"}, {"SLURM_PROCID", "0"}}) == 1,
         "a batch script's own process (SLURM_NTASKS=4, no step) is one process");
  expect(size_under({{"OMPI_COMM_WORLD_SIZE", "1"}}) == 1, "mpirun -np 1 is one process");
  // The local rank (which GPU a CUDA rank takes), from each launcher's variable.
  auto local_under = [](std::initializer_list<std::pair<const char*, const char*>> env) {
    clear();
    for (const auto& [k, v] : env) setenv(k, v, 1);
    return useg::dist::launch_info().local_rank;
  };
  expect(local_under({{"OMPI_COMM_WORLD_SIZE", "8"}, {"OMPI_COMM_WORLD_RANK", "5"},
                      {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}}) == 1,
         "Open MPI's local rank");
  expect(local_under({{"PMI_SIZE", "4"}, {"PMI_RANK", "3"}, {"MPI_LOCALRANKID", "3"}}) == 3,
         "MPICH's local rank");
  expect(local_under({{"PMI_SIZE", "4"}, {"PMI_RANK", "3"}, {"SLURM_LOCALID", "2"}}) == 2,
         "MPICH under srun: SLURM_LOCALID");
  expect(local_under({{"SLURM_STEP_NUM_TASKS", "4"}, {"SLURM_PROCID", "2"},
                      {"SLURM_LOCALID", "0"}}) == 0 &&
             local_under({{"SLURM_STEP_NUM_TASKS", "2"}, {"SLURM_PROCID", "1"}}) == 0,
         "srun's local rank, and 0 where none is set");
  expect(world_under({}).empty(), "a plain start is one process");
  useg::dist::Communicator& w = useg::dist::world();
  float v[3] = {1.f, 2.f, 3.f};
  w.allreduce_mean(v, 3);
  double d = 4.0;
  w.allreduce_sum(&d, 1);
  w.barrier();
  expect(w.rank() == 0 && v[0] == 1.f && v[2] == 3.f && d == 4.0 &&
             w.description() == "single process",
         "the single-process collectives are the identity");
  return failures ? 1 : 0;
}
