// Crash safety of `useg segment`: the real binary is SIGKILLed at random moments (fixed seed;
// USEG_KILL_TRIALS / USEG_KILL_SEED for more by hand). After every kill, each file under its
// final name parses (labels have the input's size), the only other entries are temporary files
// named `.NAME.tmp-HOST-PID-N`; the next run removes those of dead processes (and keeps one of a
// live process), resumes, and the final labels equal an uninterrupted run's voxel for voxel.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "common/kill_harness.h"
#include "segment_test_util.h"
#include "core/files.h"
#include "useg/image.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

constexpr int kCases = 3;  // keeps the test under a minute with 10 trials

Geometry case_geometry() {
  Geometry g = test::oblique_geometry_3d();
  g.size = {20, 18, 12};
  return g;
}

std::vector<std::string> segment_args(const fs::path& model, const fs::path& in,
                                      const fs::path& out) {
  return {"segment", "--model", model.string(), "--input", in.string(), "--output", out.string(),
          "--preview", "--measure", "--save-probabilities", "--threads", "1"};
}

// A temporary name of this host for a process `pid` (as temp_path_for would make in `pid`).
std::string temp_name_with_pid(const fs::path& final_path, long pid) {
  std::string t = temp_path_for(final_path.string());
  std::string mine = "-" + std::to_string(::getpid()) + "-";
  size_t at = t.rfind(mine);
  return t.substr(0, at) + "-" + std::to_string(pid) + "-" + t.substr(at + mine.size());
}

void expect_same_labels(const fs::path& a, const fs::path& b) {
  Image x = read_image(a.string()), y = read_image(b.string());
  ASSERT_EQ(x.voxels.numel(), y.voxels.numel()) << a << " vs " << b;
  int64_t diff = 0;
  for (int64_t i = 0; i < x.voxels.numel(); ++i) diff += x.voxels.data()[i] != y.voxels.data()[i];
  EXPECT_EQ(diff, 0) << a << " differs from the uninterrupted run's " << b << " in " << diff
                     << " voxels";
}

TEST(CrashSafety, SegmentKilledAtRandomMomentsResumesToTheSameLabels) {
  fs::path root = test::fresh_dir("kill_segment");
  test::ModelSpec spec;
  spec.classes = 3;
  fs::path model = test::make_model(root / "model", spec);
  fs::path in = root / "in";
  fs::create_directories(in);
  const Geometry g = case_geometry();
  for (int i = 0; i < kCases; ++i) {
    Tensor v = test::pattern_volume(g);
    for (int64_t k = 0; k < v.numel(); ++k) v.data()[k] = v.data()[k] * (1 + 0.1f * i) + 5.f * i;
    write_image((in / ("case" + std::to_string(i) + ".nii.gz")).string(), v, g, "float");
  }
  const std::string log = (root / "log.txt").string();

  // The uninterrupted reference, run twice (the same labels both times); the shorter duration
  // is the window for the random kill moments. A first run on a loaded machine (ctest -j2 in
  // CI) can take several times longer than the rest, and a window that wide lets most runs
  // finish before their moment, so the window also shrinks to any full run that finished first.
  fs::path ref = root / "ref";
  using us = std::chrono::microseconds;
  auto timed_run = [&](const fs::path& out) {
    auto t0 = std::chrono::steady_clock::now();
    test::ChildEnd r = test::run_to_end(segment_args(model, in, out), log);
    EXPECT_TRUE(r.exited && r.code == 0) << test::quote(log);
    return std::chrono::duration_cast<us>(std::chrono::steady_clock::now() - t0);
  };
  us full = timed_run(ref);
  full = std::min(full, timed_run(root / "ref_again"));
  ASSERT_FALSE(::testing::Test::HasFailure());
  for (int i = 0; i < kCases; ++i) {
    const std::string n = "case" + std::to_string(i) + ".nii.gz";
    expect_same_labels(root / "ref_again" / n, ref / n);
  }

  // Each trial: a fresh output folder, a run killed at a random moment, a resumed run killed
  // again at a random moment, then a run to the end. After each kill every file must be
  // complete; at the end the labels must equal the reference.
  const int trials = test::kill_trials(10);
  std::mt19937 rng(test::kill_seed());
  int kills = 0, finished_first = 0, temp_seen = 0;
  for (int t = 0; t < trials; ++t) {
    fs::path out = root / ("out" + std::to_string(t));
    long dead_pid = 0;
    for (int k = 0; k < 2; ++k) {
      const bool from_scratch = !fs::exists(out);
      const auto t0 = std::chrono::steady_clock::now();
      pid_t pid = test::spawn_useg(segment_args(model, in, out), log);
      ASSERT_GT(pid, 0);
      test::ChildEnd end;
      std::uniform_int_distribution<long long> moment(0, full.count());
      if (test::kill_after(pid, us(moment(rng)), &end)) {
        ++kills;
        dead_pid = pid;
      } else {
        ++finished_first;
        ASSERT_EQ(end.code, 0) << "trial " << t << ": the run failed; see " << log;
        if (from_scratch)
          full = std::min(full, std::chrono::duration_cast<us>(std::chrono::steady_clock::now() - t0));
      }
      if (!fs::exists(out)) continue;  // killed before it created the folder
      test::FolderCheck c = test::check_complete_files(out, &g);
      temp_seen += c.temp_files;
      for (const std::string& p : c.problems) ADD_FAILURE() << "trial " << t << ": " << p;
    }
    // Stale temporary files: one of a dead process (the next run removes it) and one of a live
    // process (this test; kept: it may be a run still writing, e.g. another shard).
    fs::create_directories(out);
    // 999999999 is above Linux's largest pid (2^22): never a running process.
    const fs::path stale =
        temp_name_with_pid(out / "case0.nii.gz", dead_pid ? dead_pid : 999999999);
    const fs::path live = temp_name_with_pid(out / "case1.nii.gz", ::getpid());
    std::ofstream(stale) << "partial";
    std::ofstream(live) << "in progress";
    test::ChildEnd last = test::run_to_end(segment_args(model, in, out), log);
    ASSERT_TRUE(last.exited && last.code == 0) << "trial " << t << ": resume failed; see " << log;
    EXPECT_FALSE(fs::exists(stale)) << stale << " (dead process) was not removed";
    EXPECT_TRUE(fs::exists(live)) << live << " (live process) must be left alone";
    fs::remove(live);

    test::FolderCheck c = test::check_complete_files(out, &g);
    for (const std::string& p : c.problems) ADD_FAILURE() << "trial " << t << ": " << p;
    EXPECT_EQ(c.temp_files, 0) << "trial " << t << ": temporary files left after a full run";
    auto report = test::report_statuses(test::read_report(out / "report.json"));
    EXPECT_EQ(report.size(), size_t(kCases));
    for (const auto& [id, status] : report)
      EXPECT_TRUE(status == "done" || status == "skipped") << id << ": " << status;
    for (int i = 0; i < kCases; ++i) {
      const std::string n = "case" + std::to_string(i);
      expect_same_labels(out / (n + ".nii.gz"), ref / (n + ".nii.gz"));
      for (const char* extra : {"_preview.png", "_measurements.csv", "_prob_0.nii.gz"})
        EXPECT_TRUE(fs::exists(out / (n + extra))) << n + extra;
    }
    fs::remove_all(out);
  }
  std::cout << "    segment kill-9: " << trials << " trials x 2 kill moments (seed "
            << test::kill_seed() << ", window " << full.count() / 1000 << " ms): " << kills
            << " killed mid-run, " << finished_first
            << " finished first; temporary files found after kills: " << temp_seen
            << "; every resume completed with identical labels\n";
  // The kills must actually interrupt runs (how many depends on timing: a resumed run is
  // shorter than the window, and a run may end just before its moment).
  EXPECT_GE(kills, trials / 2) << "too few kill moments landed mid-run";
}

}  // namespace
}  // namespace useg
