// The gradient all-reduce of data-parallel training alone (docs/benchmarks.md): the
// Communicator's allreduce_sum of one float32 bucket, as the trainer calls it once per step,
// timed after a barrier so that only the transfer counts.
//   mpirun -np 2 build/bench/useg_bench_allreduce [MB=31.1] [REPS=20]
// Prints, on rank 0, the median and fastest time and the bus bandwidth
// (2 (N - 1) / N x bytes / time, the figure NCCL's tests report).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "dist/communicator.h"
#include "useg/error.h"

int main(int argc, char** argv) {
  try {
    const double mb = argc > 1 ? std::atof(argv[1]) : 31.1;
    const int reps = argc > 2 ? std::atoi(argv[2]) : 20;
    useg::dist::Communicator& comm = useg::dist::world();
    std::vector<float> bucket(size_t(mb * 1e6 / sizeof(float)), 1.0f);
    std::vector<double> ms;
    for (int r = 0; r < reps + 1; ++r) {  // the first is a warm-up
      comm.barrier();
      auto t0 = std::chrono::steady_clock::now();
      comm.allreduce_sum(bucket.data(), bucket.size());
      auto t1 = std::chrono::steady_clock::now();
      if (r > 0) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    if (comm.rank() == 0) {
      const double bytes = double(bucket.size() * sizeof(float)), n = comm.size();
      const double med = ms[ms.size() / 2];
      std::printf("allreduce_sum over %d ranks (%s): %.1f MB, median %.2f ms, fastest %.2f ms, "
                  "bus bandwidth %.2f GB/s (median)\n",
                  comm.size(), comm.description().c_str(), bytes / 1e6, med, ms.front(),
                  2 * (n - 1) / n * bytes / (med * 1e-3) / 1e9);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "useg_bench_allreduce: %s\n", e.what());
    return 2;
  }
}
