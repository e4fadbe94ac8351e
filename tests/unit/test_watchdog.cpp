// The collective timeout of data-parallel training (src/dist/watchdog.h): a wait for the other
// ranks longer than the limit ends the process through the communicator's abort, with a message
// naming the wait and the option; waits under the limit, and nested ones, pass untouched. The
// job-level check (a rank stopped by SIGSTOP under mpirun) is tests/shell/test_mpi_train.sh.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "dist/watchdog.h"
#include "useg/error.h"

namespace useg::test {
namespace {

// Two ranks whose collectives take `seconds` (another rank arriving late, or never); abort
// prints its message as the MPI communicator does and ends the process with status 2.
class SlowRanks final : public dist::Communicator {
 public:
  explicit SlowRanks(double seconds) : m_seconds(seconds) {}
  int rank() const override { return 0; }
  int size() const override { return 2; }
  void allreduce_sum(float*, size_t) override { wait(); }
  void allreduce_sum(double*, size_t) override { wait(); }
  void broadcast(void*, size_t, int) override { wait(); }
  void barrier() override { wait(); }
  [[noreturn]] void abort(const std::string& message) override {
    std::fprintf(stderr, "useg: error (rank 0 of 2): %s\n", message.c_str());
    std::fflush(stderr);
    std::_Exit(2);
  }
  std::string description() const override { return "slow ranks"; }
  int calls = 0;

 private:
  void wait() {
    ++calls;
    std::this_thread::sleep_for(std::chrono::duration<double>(m_seconds));
  }
  double m_seconds;
};

TEST(CollectiveTimeout, AWaitLongerThanTheLimitEndsTheJobNamingIt) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        SlowRanks stuck(30);
        dist::WatchedCommunicator w(stuck, 0.3);
        w.barrier();
      },
      ::testing::ExitedWithCode(2),
      "error \\(rank 0 of 2\\): waited 0 s in a barrier for the other ranks, longer than "
      "--collective-timeout 0.3 s: a rank is stuck or gone");
  // A wait outside the communicator (a GPU result that waits for NCCL), named by its scope.
  EXPECT_EXIT(
      {
        SlowRanks fine(0);
        dist::WatchedCommunicator w(fine, 0.3);
        dist::WatchedCommunicator::Scope s(w, "the gradient all-reduce");
        std::this_thread::sleep_for(std::chrono::seconds(30));
      },
      ::testing::ExitedWithCode(2), "waited 0 s in the gradient all-reduce for the other ranks");
}

TEST(CollectiveTimeout, WaitsUnderTheLimitPass) {
  SlowRanks slow(0.05);
  dist::WatchedCommunicator w(slow, 2.0);
  float f = 1.f;
  double d = 1.0;
  for (int i = 0; i < 5; ++i) {
    w.allreduce_sum(&f, 1);
    w.allreduce_sum(&d, 1);
    w.barrier();
  }
  {
    // Nested: the outer scope is the one timed; the inner collective does not reset it.
    dist::WatchedCommunicator::Scope s(w, "the gradient all-reduce");
    w.broadcast(&f, sizeof f, 0);
  }
  EXPECT_EQ(slow.calls, 16);
  EXPECT_EQ(w.size(), 2);
  EXPECT_EQ(w.description(), "slow ranks");
}

TEST(CollectiveTimeout, TheLimitMustBePositive) {
  SlowRanks slow(0);
  for (double t : {0.0, -1.0}) {
    try {
      dist::WatchedCommunicator w(slow, t);
      ADD_FAILURE() << "timeout " << t << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--collective-timeout"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace useg::test
