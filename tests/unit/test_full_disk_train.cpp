// Full disk during `useg train`: a write that fails for lack of space (the checkpoint, a model
// folder, metrics.csv, ...) stops the run with an error naming the file and "No space left on
// device" and a non-zero exit; every file under its final name is complete (the previous
// checkpoint is intact), no temporary file is left, and once space is back `--resume` finishes
// the run bit-identical to an uninterrupted one. Two methods, as in test_full_disk.cpp: the
// injected failure USEG_FAIL_WRITES_AFTER_BYTES at several budgets, and a real small tmpfs (when
// this process may mount one; skipped otherwise).
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "common/expect_error.h"
#include "common/image_fixtures.h"
#include "common/kill_harness.h"
#include "common/train_fixtures.h"
#include "common/same_weights.h"
#include "train/checkpoint.h"
#include "core/files.h"
#include "io/safetensors.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

struct TrainSetup {
  fs::path root, data, config, ref;
  uintmax_t ref_bytes = 0;  // bytes of the uninterrupted run's final files
};

std::vector<std::string> train_args(const TrainSetup& s, const fs::path& out, bool resume) {
  std::vector<std::string> a{"train", "--data", s.data.string(), "--output", out.string(),
                             "--threads", "1"};
  if (resume) a.push_back("--resume");
  else a.insert(a.end(), {"--config", s.config.string()});
  return a;
}

uintmax_t folder_bytes(const fs::path& dir) {
  uintmax_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) n += e.file_size();
  return n;
}

// A tiny 2D run of 3 epochs and its uninterrupted reference, shared by the tests of this file.
const TrainSetup& setup() {
  static TrainSetup s = [] {
    TrainSetup x;
    x.root = test::fresh_dir("disk_train");
    x.data = x.root / "data";
    test::BlobDataset b;
    b.cases = 4;
    b.size = 24;
    b.radius_min = 3;
    b.radius_max = 6;
    test::write_blob_dataset(x.data, b);
    RunConfig r = test::tiny_run(2);
    r.train.patch_size = {16, 16};
    r.train.epochs = 3;
    r.train.iterations_per_epoch = 2;
    r.train.val_fraction = 0.25;
    x.config = x.root / "config.json";
    test::write_text(x.config, to_json_string(r));
    x.ref = x.root / "ref";
    test::ChildEnd e = test::run_to_end(train_args(x, x.ref, false), (x.root / "ref.log").string());
    EXPECT_TRUE(e.exited && e.code == 0) << read_file((x.root / "ref.log").string());
    x.ref_bytes = folder_bytes(x.ref);
    return x;
  }();
  return s;
}

// After a failed run in `out`: complete files only, no temporaries; then (space back) the run
// resumes — or starts again when it failed before its first checkpoint — and ends equal to the
// reference.
void expect_recovers(const TrainSetup& s, const fs::path& out, const std::string& what) {
  SCOPED_TRACE(what);
  test::FolderCheck c = test::check_complete_files(out);
  for (const std::string& p : c.problems) ADD_FAILURE() << p;
  EXPECT_EQ(c.temp_files, 0);
  const bool resume = fs::exists(out / "checkpoint.safetensors");
  if (resume) {
    EXPECT_NO_THROW(training::read_checkpoint((out / "checkpoint.safetensors").string()));
  }
  const std::string log = (out.parent_path() / (out.filename().string() + "-again.log")).string();
  test::ChildEnd e = test::run_to_end(train_args(s, out, resume), log);
  ASSERT_TRUE(e.exited && e.code == 0) << read_file(log);
  EXPECT_EQ(read_file((out / "metrics.csv").string()).substr(0, 200).find("epoch"), 0u);
  test::expect_same_weights(out / "last" / "weights.safetensors", s.ref / "last" / "weights.safetensors");
  test::expect_same_weights(out / "best" / "weights.safetensors", s.ref / "best" / "weights.safetensors");
}

// Budgets from 0 (config.json, the first write, fails) to about the whole run's output: each
// run stops at a different write with a clear error, and each recovers.
TEST(FullDiskTrain, InjectedFailureAtManyPointsNamesTheFileAndResumes) {
  const TrainSetup& s = setup();
  ASSERT_GT(s.ref_bytes, 0u);
  int failed = 0, with_checkpoint = 0;
  std::vector<std::string> files_named;
  for (int k = 0; k <= 6; ++k) {
    const uintmax_t budget = s.ref_bytes * uintmax_t(k) / 2;  // 0 .. 3x one set of outputs
    fs::path out = s.root / ("budget" + std::to_string(k));
    const std::string log = out.string() + ".log";
    test::ChildEnd e = test::run_to_end(train_args(s, out, false), log,
                                        {"USEG_FAIL_WRITES_AFTER_BYTES=" + std::to_string(budget)});
    std::string text = read_file(log);
    ASSERT_TRUE(e.exited) << text;
    if (e.code == 0) continue;  // the budget sufficed
    ++failed;
    EXPECT_EQ(e.code, 2) << text;
    EXPECT_HAS(text, "useg: error: cannot write " + out.string() + "/");
    EXPECT_HAS(text, "No space left on device");
    size_t at = text.find("cannot write " + out.string() + "/");
    if (at != std::string::npos)
      files_named.push_back(text.substr(at + 13 + out.string().size() + 1,
                                        text.find(':', at + 13) - at - 14 - out.string().size()));
    with_checkpoint += fs::exists(out / "checkpoint.safetensors");
    expect_recovers(s, out, "budget " + std::to_string(budget));
  }
  std::cout << "    train full disk (injected): " << failed << " of 7 budgets failed, "
            << with_checkpoint << " of them with an earlier checkpoint intact; files named:";
  for (const std::string& f : files_named) std::cout << " " << f;
  std::cout << "\n";
  EXPECT_GE(failed, 3);
  EXPECT_GE(with_checkpoint, 1) << "some failure should come after a checkpoint was written";
  ASSERT_FALSE(files_named.empty());
  for (const std::string& f : files_named)
    EXPECT_EQ(f.find(".tmp-"), std::string::npos) << f << ": errors name the final file";
  EXPECT_EQ(files_named.front(), "config.json") << "budget 0: the first write";
}

// A real full file system: a tmpfs a little smaller than the run's outputs.
TEST(FullDiskTrain, SmallTmpfsFillsUp) {
  const TrainSetup& s = setup();
  fs::path mnt = s.root / "mnt";
  fs::create_directories(mnt);
  const std::string size = "size=" + std::to_string(s.ref_bytes * 2 / 3 / 4096 * 4096);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, size.c_str()) != 0)
    GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno)
                 << "); the injected-failure test covers this path";
  struct Unmount {
    fs::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{mnt};
  fs::path out = mnt / "run";
  const std::string log = (s.root / "tmpfs.log").string();
  test::ChildEnd e = test::run_to_end(train_args(s, out, false), log);
  std::string text = read_file(log);
  ASSERT_TRUE(e.exited) << text;
  EXPECT_EQ(e.code, 2) << text;
  EXPECT_HAS(text, "useg: error: cannot write " + out.string() + "/");
  EXPECT_HAS(text, "No space left on device");
  // Space back: the run folder moved to a normal disk resumes and matches the reference.
  fs::path moved = s.root / "from_tmpfs";
  fs::remove_all(moved);
  fs::copy(out, moved, fs::copy_options::recursive);
  expect_recovers(s, moved, "tmpfs " + size);
}

}  // namespace
}  // namespace useg
