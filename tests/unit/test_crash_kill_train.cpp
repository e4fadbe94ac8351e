// Crash safety of `useg train`: the real binary is SIGKILLed at random moments of the run (fixed
// seed; USEG_KILL_TRIALS / USEG_KILL_SEED for more by hand, see docs/reliability.md). After every
// kill each file under its final name is complete (config.json, metrics.csv, checkpoint and the
// model folders parse; the harness also reads every image, JSON, CSV and safetensors file in the
// run folder) and the only other entries are temporary files. `--resume` (or a new start when
// the kill came before the first checkpoint) is killed once more at a random moment, then run to
// the end: the losses in metrics.csv and the weights of last/ and best/ must equal an
// uninterrupted run's bit for bit (CPU resume is exact, docs/training.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "common/image_fixtures.h"
#include "common/kill_harness.h"
#include "common/train_fixtures.h"
#include "common/same_weights.h"
#include "train/checkpoint.h"
#include "train/outputs.h"
#include "core/files.h"
#include "useg/model.h"
#include "io/safetensors.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

// 5 cases of 24x24 and a small 2D net: one uninterrupted run takes about a second.
RunConfig kill_config() {
  RunConfig r = test::tiny_run(2);
  r.model.norm = NormKind::Batch;
  r.model.deep_supervision = true;
  r.train.patch_size = {16, 16};
  r.train.batch_size = 2;
  r.train.epochs = 4;
  r.train.iterations_per_epoch = 4;
  r.train.optimizer = "sgd";
  r.train.lr = 0.02;
  r.train.schedule = "poly";
  r.train.val_fraction = 0.4;
  return r;
}

std::vector<std::string> train_args(const fs::path& config, const fs::path& data,
                                    const fs::path& out, bool resume) {
  std::vector<std::string> a{"train", "--data", data.string(), "--output", out.string(),
                             "--threads", "1"};
  if (resume) a.push_back("--resume");
  else a.insert(a.end(), {"--config", config.string()});
  return a;
}

std::string metrics_losses(const fs::path& run) {
  // Every row's epoch and train_loss (17 significant digits): the first two columns.
  std::string csv = read_file((run / "metrics.csv").string()), out;
  size_t pos = csv.find('\n') + 1;
  while (pos < csv.size()) {
    size_t end = csv.find('\n', pos);
    std::string line = csv.substr(pos, end - pos);
    size_t second = line.find(',', line.find(',') + 1);
    out += line.substr(0, second) + "\n";
    pos = end + 1;
  }
  return out;
}

// After a kill: every file is complete, and the checkpoint (if any) and model folders load.
void expect_complete_run(const fs::path& run, int trial) {
  if (!fs::exists(run)) return;
  test::FolderCheck c = test::check_complete_files(run);
  for (const std::string& p : c.problems) ADD_FAILURE() << "trial " << trial << ": " << p;
  if (fs::exists(run / "checkpoint.safetensors")) {
    EXPECT_NO_THROW(training::read_checkpoint((run / "checkpoint.safetensors").string()))
        << "trial " << trial;
  }
  if (fs::exists(run / "config.json")) {
    EXPECT_NO_THROW(load_run_config((run / "config.json").string())) << "trial " << trial;
  }
  auto be = make_backend(Device::CPU);
  for (const char* m : {"best", "last"})
    if (fs::exists(run / m)) {
      EXPECT_NO_THROW(load_model_dir((run / m).string(), *be)) << "trial " << trial << ": " << m;
    }
}

TEST(CrashSafety, TrainKilledAtRandomMomentsResumesBitIdentically) {
  fs::path root = test::fresh_dir("kill_train");
  fs::path data = root / "data";
  test::BlobDataset b;
  b.cases = 5;
  b.size = 24;
  b.radius_min = 3;
  b.radius_max = 6;
  test::write_blob_dataset(data, b);
  fs::path config = root / "config.json";
  test::write_text(config, to_json_string(kill_config()));
  const std::string log = (root / "log.txt").string();

  // The reference run's duration is the window for the random kill moments; it shrinks to any
  // run from scratch that finished before its moment (a first run on a loaded CI machine can
  // take several times longer than the rest, and then most moments would miss).
  using us = std::chrono::microseconds;
  fs::path ref = root / "ref";
  auto t0 = std::chrono::steady_clock::now();
  test::ChildEnd r0 = test::run_to_end(train_args(config, data, ref, false), log);
  auto full = std::chrono::duration_cast<us>(std::chrono::steady_clock::now() - t0);
  ASSERT_TRUE(r0.exited && r0.code == 0) << read_file(log);
  ASSERT_TRUE(fs::exists(ref / "best" / "weights.safetensors"));

  const int trials = test::kill_trials(10);
  std::mt19937 rng(test::kill_seed());
  int kills = 0, finished_first = 0, with_checkpoint = 0, temp_seen = 0;
  for (int t = 0; t < trials; ++t) {
    fs::path out = root / ("run" + std::to_string(t));
    for (int k = 0; k < 2; ++k) {
      const bool resume = fs::exists(out / "checkpoint.safetensors");
      const bool from_scratch = !fs::exists(out);
      t0 = std::chrono::steady_clock::now();
      pid_t pid = test::spawn_useg(train_args(config, data, out, resume), log);
      ASSERT_GT(pid, 0);
      test::ChildEnd end;
      std::uniform_int_distribution<long long> moment(0, full.count());
      if (test::kill_after(pid, us(moment(rng)), &end)) {
        ++kills;
        with_checkpoint += fs::exists(out / "checkpoint.safetensors");
        if (fs::exists(out)) temp_seen += test::check_complete_files(out).temp_files;
        expect_complete_run(out, t);
      } else {
        ++finished_first;
        ASSERT_EQ(end.code, 0) << "trial " << t << ": the run failed; see " << log;
        if (from_scratch)
          full = std::min(full, std::chrono::duration_cast<us>(std::chrono::steady_clock::now() - t0));
      }
    }
    const bool resume = fs::exists(out / "checkpoint.safetensors");
    test::ChildEnd last = test::run_to_end(train_args(config, data, out, resume), log);
    ASSERT_TRUE(last.exited && last.code == 0) << "trial " << t << ": the last run failed; see "
                                               << log;
    expect_complete_run(out, t);
    EXPECT_EQ(test::check_complete_files(out).temp_files, 0) << "trial " << t;
    EXPECT_EQ(metrics_losses(out), metrics_losses(ref)) << "trial " << t;
    for (const char* m : {"last", "best"})
      test::expect_same_weights(out / m / "weights.safetensors", ref / m / "weights.safetensors",
                          "trial " + std::to_string(t) + " " + m);
    fs::remove_all(out);
  }
  std::cout << "    train kill-9: " << trials << " trials x 2 kill moments (seed "
            << test::kill_seed() << ", window " << full.count() / 1000 << " ms): " << kills
            << " killed mid-run (" << with_checkpoint << " after a checkpoint existed), "
            << finished_first << " finished first; temporary files found after kills: "
            << temp_seen << "; every resumed run equal to the uninterrupted one bit for bit\n";
  // The kills must actually interrupt runs (how many depends on timing: a resumed run is
  // shorter than the window, and a run may end just before its moment).
  EXPECT_GE(kills, trials / 2) << "too few kill moments landed mid-run";
}

}  // namespace
}  // namespace useg
