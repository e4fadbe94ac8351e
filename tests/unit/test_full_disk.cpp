// Full disk: a write that fails for lack of space names the file and the cause ("No space left
// on device"), leaves the earlier outputs intact and no partial or temporary file, and `useg
// segment` then fails the remaining cases with the same message without computing them (exit 1).
// Two methods: the injected failure USEG_FAIL_WRITES_AFTER_BYTES (always), and a real 256 KiB
// tmpfs (when this process may mount one, e.g. root in CI; skipped otherwise).
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "common/expect_error.h"
#include "common/kill_harness.h"
#include "segment_test_util.h"
#include "core/files.h"
#include "useg/image.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

using test::quote;
using test::run_useg;

Geometry disk_geometry() {
  Geometry g = test::oblique_geometry_3d();
  g.size = {20, 18, 12};
  return g;
}

void write_inputs(const fs::path& in, int n) {
  fs::create_directories(in);
  const Geometry g = disk_geometry();
  for (int i = 0; i < n; ++i) {
    Tensor v = test::pattern_volume(g);
    for (int64_t k = 0; k < v.numel(); ++k) v.data()[k] += 4.f * i;
    write_image((in / ("c" + std::to_string(i) + ".nii.gz")).string(), v, g, "float");
  }
}

// The progress line of each case ("[2/4] c1: FAILED: ..." -> {"c1", "FAILED: ..."}). The
// console, not report.json, is where a full disk's failures show: the report cannot be
// rewritten once the disk is full (the file keeps the last version that fitted).
std::map<std::string, std::string> case_lines(const std::string& output) {
  std::map<std::string, std::string> out;
  size_t at = 0;
  while ((at = output.find("] ", at)) != std::string::npos) {
    size_t colon = output.find(": ", at);
    size_t eol = output.find('\n', at);
    if (colon != std::string::npos && colon < eol)
      out[output.substr(at + 2, colon - at - 2)] = output.substr(colon + 2, eol - colon - 2);
    at += 2;
  }
  return out;
}

std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out[e.path().string()] = read_file(e.path().string());
  return out;
}

// With no byte allowed, the very first write (the report) fails; every case then fails with
// that message, and the outputs of an earlier complete run are left byte for byte.
TEST(FullDisk, InjectedFullDiskKeepsEarlierOutputs) {
  fs::path root = test::fresh_dir("disk_injected");
  std::string m = test::make_model(root / "model", test::ModelSpec{});
  write_inputs(root / "in", 3);
  fs::path out = root / "out";
  std::string cmd = "segment --model " + m + " --input " + quote(root / "in") + " --output " +
                    quote(out) + " --preview --threads 1";
  auto first = run_useg(cmd);
  ASSERT_EQ(first.code, 0) << first.output;
  auto before = snapshot(out);

  auto r = run_useg(cmd + " --overwrite", "USEG_FAIL_WRITES_AFTER_BYTES=0");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_HAS(r.output, "cannot write " + (out / "report.json").string() +
                           ": No space left on device");
  for (const char* c : {"c0", "c1", "c2"})
    EXPECT_HAS(r.output, std::string(c) + ": FAILED: not segmented: the disk is full (cannot write");
  EXPECT_EQ(snapshot(out), before) << "a failed write changed an earlier output";
}

// The disk fills during the second case: the first is done, the second fails naming its file,
// the rest fail with "not segmented: the disk is full (<that message>)" — except at most one
// case that was already segmented and waiting for the writer (the pipeline holds one), which
// fails on its own write.
TEST(FullDisk, InjectedFullDiskMidBatchFailsTheRest) {
  fs::path root = test::fresh_dir("disk_mid");
  std::string m = test::make_model(root / "model", test::ModelSpec{});
  write_inputs(root / "in", 5);
  fs::path ref = root / "ref", out = root / "out";
  std::string args = " --model " + m + " --input " + quote(root / "in") +
                     " --save-probabilities --threads 1 --output ";
  auto full = run_useg("segment" + args + quote(ref));
  ASSERT_EQ(full.code, 0) << full.output;
  // Enough for the reports twice over and the first case's outputs, not for the second case.
  uintmax_t budget = 2 * (fs::file_size(ref / "report.json") + fs::file_size(ref / "report.csv"));
  for (const auto& e : fs::directory_iterator(ref))
    if (e.path().filename().string().rfind("c0", 0) == 0) budget += e.file_size();
  auto r = run_useg("segment" + args + quote(out),
                    "USEG_FAIL_WRITES_AFTER_BYTES=" + std::to_string(budget));
  EXPECT_EQ(r.code, 1) << r.output;
  auto lines = case_lines(r.output);
  EXPECT_EQ(lines["c0"].rfind("done", 0), 0u) << r.output;
  const std::string prefix = "FAILED: ";
  ASSERT_EQ(lines["c1"].rfind(prefix, 0), 0u) << r.output;
  const std::string c1_error = lines["c1"].substr(prefix.size());
  EXPECT_HAS(c1_error, "cannot write " + (out / "c1").string());
  EXPECT_HAS(c1_error, ": No space left on device");
  const std::string not_segmented = prefix + "not segmented: the disk is full (" + c1_error + ")";
  if (lines["c2"] != not_segmented) {  // in flight when the disk filled
    EXPECT_HAS(lines["c2"], "cannot write " + (out / "c2").string());
    EXPECT_HAS(lines["c2"], ": No space left on device");
  }
  for (const char* c : {"c3", "c4"}) EXPECT_EQ(lines[c], not_segmented) << c;
  test::FolderCheck c = test::check_complete_files(out);
  for (const std::string& p : c.problems) ADD_FAILURE() << p;
  EXPECT_EQ(c.temp_files, 0);
  for (const char* gone : {"c1.nii.gz", "c2.nii.gz", "c3.nii.gz", "c4.nii.gz"})
    EXPECT_FALSE(fs::exists(out / gone)) << gone;
  // Once space is back, the same command finishes the batch (c0 skipped).
  auto again = run_useg("segment" + args + quote(out));
  EXPECT_EQ(again.code, 0) << again.output;
  EXPECT_EQ(test::report_statuses(test::read_report(out / "report.json"))["c0"], "skipped");
}

// A real full file system: a 256 KiB tmpfs.
TEST(FullDisk, SmallTmpfsFillsUp) {
  fs::path root = test::fresh_dir("disk_tmpfs");
  fs::path mnt = root / "mnt";
  fs::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=256k") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno)
                 << "); the injected-failure tests cover this path";
  struct Unmount {
    fs::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{mnt};
  std::string m = test::make_model(root / "model", test::ModelSpec{});
  const int n = 12;
  write_inputs(root / "in", n);
  fs::path out = mnt / "out";
  auto r = run_useg("segment --model " + m + " --input " + quote(root / "in") + " --output " +
                    quote(out) + " --preview --save-probabilities --threads 1");
  std::cout << "    " << r.output.substr(r.output.rfind("segment:")) << "\n";
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_HAS(r.output, "No space left on device");
  auto lines = case_lines(r.output);
  ASSERT_EQ(lines.size(), size_t(n)) << r.output;
  // Cases run in the order of their names (c0, c1, c10, c11, c2, ...), as std::map iterates.
  // The first failed write may be a case's output or the report rewritten after a case; from
  // then on, cases not yet segmented fail quoting that first message, and at most one case that
  // was segmented and waiting for the writer fails on its own write.
  int done = 0, in_flight = 0, not_segmented = 0;
  std::string first_full, quoted;
  const std::string prefix = "FAILED: not segmented: the disk is full (";
  for (const auto& [id, line] : lines) {
    if (line.rfind("done", 0) == 0) {
      EXPECT_TRUE(first_full.empty() && quoted.empty())
          << id << " was done after the disk was full: " << line;
      ++done;
    } else if (line.rfind(prefix, 0) == 0) {
      std::string q = line.substr(prefix.size());
      if (quoted.empty()) quoted = q;
      EXPECT_EQ(q, quoted) << id << ": every case not segmented quotes the same first failure";
      EXPECT_HAS(q, "cannot write " + out.string() + "/");
      EXPECT_HAS(q, "No space left on device");
      ++not_segmented;
    } else {  // its own write failed: the first failure, or a case in flight
      if (first_full.empty()) first_full = line;
      EXPECT_HAS(line, "FAILED: cannot write " + out.string() + "/" + id);
      EXPECT_HAS(line, "No space left on device");
      ++in_flight;
    }
  }
  EXPECT_LE(in_flight, 2) << r.output;
  if (!first_full.empty() && quoted.find("report.") == std::string::npos) {
    EXPECT_EQ(quoted.substr(0, quoted.size() - 1), first_full.substr(8))
        << "a case's write was the first failure: the rest quote it";
  }
  EXPECT_GE(done, 1) << r.output;
  EXPECT_GE(not_segmented, 1) << r.output;
  EXPECT_FALSE(first_full.empty() && quoted.empty()) << r.output;
  test::FolderCheck c = test::check_complete_files(out);
  for (const std::string& p : c.problems) ADD_FAILURE() << p;
  EXPECT_EQ(c.temp_files, 0);
}

}  // namespace
}  // namespace useg
