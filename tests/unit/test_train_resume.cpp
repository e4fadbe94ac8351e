// Interrupted runs: a resumed run continues bit for bit (library stop hook, and the real binary
// stopped by SIGTERM); non-finite losses are skipped and counted, then stop the run with an error
// naming the checkpoint; runs killed with SIGKILL leave only complete files and resume.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/expect_error.h"
#include "common/image_fixtures.h"
#include "common/subprocess.h"
#include "common/train_fixtures.h"
#include "common/same_weights.h"
#include "train/checkpoint.h"
#include "train/outputs.h"
#include "core/files.h"
#include "useg/model.h"
#include "io/safetensors.h"
#include "useg/train.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

// 6 cases of 32x32; a config exercising every piece of state a resume must restore: SGD momentum,
// warm-up + poly, batch norm running statistics, dropout, deep supervision, foreground sampling.
fs::path resume_dataset(const std::string& name) {
  fs::path d = test::fresh_dir("train_resume_" + name) / "data";
  test::BlobDataset b;
  b.cases = 6;
  b.size = 32;
  b.radius_min = 4;
  b.radius_max = 7;
  test::write_blob_dataset(d, b);
  return d;
}

RunConfig resume_config() {
  RunConfig r = test::tiny_run(2);
  r.model.norm = NormKind::Batch;
  r.model.dropout = 0.1f;
  r.model.deep_supervision = true;
  r.model.depth = 3;
  r.train.patch_size = {16, 16};
  r.train.batch_size = 3;
  r.train.epochs = 3;
  r.train.iterations_per_epoch = 4;
  r.train.optimizer = "sgd";
  r.train.lr = 0.02;
  r.train.schedule = "poly";
  r.train.warmup_epochs = 1;
  r.train.val_fraction = 0.34;
  return r;
}

// One thread: tiny networks, see test_train_e2e.cpp.
TrainOptions options(const fs::path& data, const fs::path& out, const RunConfig& run) {
  return test::quiet_train_options(data, out, run);
}

std::vector<std::string> csv_column(const fs::path& run, size_t column) {
  std::vector<std::string> out;
  std::string csv = read_file((run / "metrics.csv").string());
  size_t pos = csv.find('\n') + 1;
  while (pos < csv.size()) {
    size_t end = csv.find('\n', pos);
    std::string line = csv.substr(pos, end - pos);
    size_t b = 0;
    for (size_t c = 0; c < column; ++c) b = line.find(',', b) + 1;
    out.push_back(line.substr(b, line.find(',', b) - b));
    pos = end + 1;
  }
  return out;
}

// Runs: the uninterrupted reference, computed once per dataset.
struct Reference {
  fs::path data, run;
};
const Reference& reference() {
  static Reference r = [] {
    Reference x;
    x.data = resume_dataset("ref");
    x.run = x.data.parent_path() / "uninterrupted";
    TrainResult res = train(options(x.data, x.run, resume_config()));
    EXPECT_EQ(res.status, TrainResult::Status::Completed);
    return x;
  }();
  return r;
}

TEST(TrainResume, StopAndResumeIsBitIdentical) {
  const Reference& ref = reference();
  // Stops mid-epoch (step 6 = epoch 2, step 2), at an epoch's last step (step 4: validation is
  // pending), and twice in a row.
  for (std::vector<int64_t> stops : {std::vector<int64_t>{6}, {4}, {5, 3}}) {
    fs::path out = ref.data.parent_path() / ("stopped_" + std::to_string(stops[0]) + "_" +
                                             std::to_string(stops.size()));
    fs::remove_all(out);
    TrainOptions o = options(ref.data, out, resume_config());
    for (int64_t s : stops) {
      o.stop_after_steps = s;
      TrainResult r = train(o);
      EXPECT_EQ(r.status, TrainResult::Status::Interrupted);
      o.resume = true;
      o.config.reset();
    }
    o.stop_after_steps = 0;
    TrainResult r = train(o);
    EXPECT_EQ(r.status, TrainResult::Status::Completed);
    EXPECT_EQ(csv_column(out, 1), csv_column(ref.run, 1)) << "train_loss, stops at " << stops[0];
    EXPECT_EQ(csv_column(out, 2), csv_column(ref.run, 2)) << "Dice";
    EXPECT_EQ(csv_column(out, 4), csv_column(ref.run, 4)) << "lr";
    test::expect_same_weights(out / "last" / "weights.safetensors",
                        ref.run / "last" / "weights.safetensors");
    test::expect_same_weights(out / "best" / "weights.safetensors",
                        ref.run / "best" / "weights.safetensors");
  }
}

TEST(TrainResume, NumWorkersDoNotChangeTheRun) {
  const Reference& ref = reference();
  RunConfig run = resume_config();
  run.train.num_workers = 2;
  fs::path out = ref.data.parent_path() / "two_workers";
  fs::remove_all(out);
  train(options(ref.data, out, run));
  EXPECT_EQ(csv_column(out, 1), csv_column(ref.run, 1));
  test::expect_same_weights(out / "last" / "weights.safetensors", ref.run / "last" / "weights.safetensors");
}

TEST(TrainResume, RefusesToOverwriteOrChangeARun) {
  const Reference& ref = reference();
  TrainOptions o = options(ref.data, ref.run, resume_config());
  test::expect_error([&] { train(o); }, "already holds a training run (checkpoint.safetensors): "
                                        "add --resume");
  o.resume = true;
  RunConfig other = resume_config();
  other.train.lr = 0.5;
  o.config = other;
  const std::string differs = test::error_of([&] { train(o); });
  EXPECT_HAS(differs, "the config given differs from the one the run started");
  // What the user acts on, and nothing else: no source location (USEG_REQUIRE, not USEG_CHECK).
  EXPECT_EQ(differs.find("failed at"), std::string::npos) << differs;
  EXPECT_EQ(differs.find(".cpp"), std::string::npos) << differs;
  o.config.reset();
  TrainResult r = train(o);  // resuming a finished run does nothing
  EXPECT_EQ(r.status, TrainResult::Status::Completed);
  EXPECT_EQ(r.epochs_done, 3);
  // The dataset must keep its cases (an interrupted run: a finished one loads no data).
  fs::path part = ref.data.parent_path() / "interrupted_then_changed";
  fs::remove_all(part);
  TrainOptions p = options(ref.data, part, resume_config());
  p.stop_after_steps = 2;
  EXPECT_EQ(train(p).status, TrainResult::Status::Interrupted);
  p.resume = true;
  p.config.reset();
  fs::path moved = ref.data.parent_path() / "blob_005.nii.gz";
  fs::rename(ref.data / "labelsTr" / "blob_005.nii.gz", moved);
  fs::rename(ref.data / "imagesTr" / "blob_005_0000.nii.gz", ref.data.parent_path() / "i5.nii.gz");
  test::write_text(ref.data / "dataset.json", test::dataset_json(5, "MR", 1));
  test::expect_error([&] { train(p); }, "--resume: the dataset's cases changed since the run "
                                        "started (added: none; removed: blob_005)");
  fs::rename(moved, ref.data / "labelsTr" / "blob_005.nii.gz");
  fs::rename(ref.data.parent_path() / "i5.nii.gz", ref.data / "imagesTr" / "blob_005_0000.nii.gz");
  test::write_text(ref.data / "dataset.json", test::dataset_json(6, "MR", 1));
  TrainOptions n = options(ref.data, ref.data.parent_path() / "never_started", resume_config());
  n.resume = true;
  test::expect_error([&] { train(n); }, "has no checkpoint.safetensors to resume from");

  // A checkpoint written before the config had an `inference` section resumes with the same
  // config given (the missing section is its default, no difference); a changed one is refused.
  fs::path old = ref.data.parent_path() / "older_checkpoint";
  fs::remove_all(old);
  TrainOptions q = options(ref.data, old, resume_config());
  q.stop_after_steps = 2;
  ASSERT_EQ(train(q).status, TrainResult::Status::Interrupted);
  const std::string ckpt = (old / "checkpoint.safetensors").string();
  SafetensorsFile f = read_safetensors(ckpt);
  nlohmann::json config = nlohmann::json::parse(f.metadata.at("config"));
  ASSERT_TRUE(config.contains("inference")) << f.metadata.at("config");
  config.erase("inference");
  f.metadata["config"] = config.dump(2);
  std::vector<std::pair<std::string, Tensor>> tensors(f.tensors.begin(), f.tensors.end());
  write_safetensors(ckpt, tensors, f.metadata);
  q.resume = true;
  q.stop_after_steps = 1;
  RunConfig mirrored = resume_config();
  mirrored.inference.tta = true;
  q.config = mirrored;
  test::expect_error([&] { train(q); }, "the config given differs from the one the run started");
  q.config = resume_config();
  EXPECT_EQ(train(q).status, TrainResult::Status::Interrupted);
}

TEST(TrainResume, NonFiniteStepsAreSkippedThenStopTheRun) {
  const Reference& ref = reference();
  fs::path out = ref.data.parent_path() / "nan_skipped";
  fs::remove_all(out);
  TrainOptions o = options(ref.data, out, resume_config());
  o.poison_input = [](int64_t s) { return s == 1 || s == 2 || s == 9; };
  TrainResult r = train(o);
  EXPECT_EQ(r.status, TrainResult::Status::Completed);
  EXPECT_EQ(r.skipped_steps, 3);
  EXPECT_EQ(csv_column(out, 6), (std::vector<std::string>{"2", "0", "1"})) << "skipped_steps";
  SafetensorsFile w = read_safetensors((out / "last" / "weights.safetensors").string());
  for (const auto& [name, t] : w.tensors)
    for (float v : t.to_vector()) ASSERT_TRUE(std::isfinite(v)) << name;

  fs::path out2 = ref.data.parent_path() / "nan_stop";
  fs::remove_all(out2);
  TrainOptions o2 = options(ref.data, out2, resume_config());
  o2.poison_input = [](int64_t s) { return s >= 5; };  // from epoch 2, step 2 on
  test::expect_error([&] { train(o2); },
                     "training stopped: 5 steps in a row had a non-finite loss or gradient "
                     "(train.max_nonfinite_steps = 5), the last at epoch 3, step 2. The last good "
                     "checkpoint is " + (out2 / "checkpoint.safetensors").string() +
                         " (after epoch 2)");
  training::Checkpoint c = training::read_checkpoint((out2 / "checkpoint.safetensors").string());
  EXPECT_EQ(c.state.epoch, 2);
}

// ---------------------------------------------------------------------------- the binary
fs::path write_config(const fs::path& dir, const RunConfig& run) {
  fs::path p = dir / "config_in.json";
  test::write_text(p, to_json_string(run));
  return p;
}

std::vector<std::string> cli(const fs::path& config, const fs::path& data, const fs::path& out,
                             bool resume) {
  std::vector<std::string> a{USEG_BINARY, "train",  "--data", data.string(), "--output",
                             out.string(), "--threads", "1"};
  if (resume) a.push_back("--resume");
  else a.insert(a.end(), {"--config", config.string()});
  return a;
}

// Long enough (4 x 15 steps) that a signal sent after the first epoch lands mid-run.
RunConfig cli_config() {
  RunConfig r = resume_config();
  r.train.epochs = 4;
  r.train.iterations_per_epoch = 15;
  return r;
}

TEST(TrainResume, SigtermWritesACheckpointAndPrintsTheResumeCommand) {
  fs::path data = resume_dataset("cli");
  fs::path root = data.parent_path();
  fs::path config = write_config(root, cli_config());
  fs::path ref = root / "uninterrupted", out = root / "signalled";
  ASSERT_EQ(test::run_command(cli(config, data, ref, false), (root / "ref.log").string()), 0)
      << read_file((root / "ref.log").string());
  std::string log = (root / "signalled.log").string();
  {
    test::Child c(cli(config, data, out, false), log);
    ASSERT_TRUE(c.started());
    // Signal once the first epoch's checkpoint exists, a little later: usually inside epoch 2's
    // steps (any moment is valid; the library tests pin down mid-epoch and validation stops).
    auto t0 = std::chrono::steady_clock::now();
    while (!fs::exists(out / "checkpoint.safetensors") &&
           std::chrono::steady_clock::now() - t0 < std::chrono::seconds(120))
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    c.signal(SIGTERM);
    EXPECT_EQ(c.wait(), 0) << read_file(log);
  }
  std::string text = read_file(log);
  EXPECT_NE(text.find("stopped by SIGTERM"), std::string::npos) << text;
  std::string cmd = "useg train --resume --data " + data.string() + " --output " + out.string() +
                    " --threads 1";
  EXPECT_NE(text.find("resume with:\n  " + cmd), std::string::npos) << text;
  ASSERT_EQ(test::run_command(cli(config, data, out, true), log), 0) << read_file(log);
  EXPECT_EQ(csv_column(out, 1), csv_column(ref, 1));
  test::expect_same_weights(out / "last" / "weights.safetensors", ref / "last" / "weights.safetensors");
}

// Every output is either absent, the previous complete version or the new complete version.
void expect_complete_outputs(const fs::path& run) {
  if (fs::exists(run / "config.json")) {
    EXPECT_NO_THROW(load_run_config((run / "config.json").string()));
  }
  if (fs::exists(run / "checkpoint.safetensors")) {
    EXPECT_NO_THROW(training::read_checkpoint((run / "checkpoint.safetensors").string()));
  }
  if (fs::exists(run / "metrics.csv")) {
    std::string csv = read_file((run / "metrics.csv").string());
    ASSERT_FALSE(csv.empty());
    EXPECT_EQ(csv.back(), '\n');
    EXPECT_NO_THROW(training::parse_metrics_rows(csv.substr(csv.find('\n') + 1), 1, "metrics.csv"));
  }
  if (fs::exists(run / "curves.png")) {
    std::string png = read_file((run / "curves.png").string());
    ASSERT_GT(png.size(), 20u);
    EXPECT_EQ(png.substr(1, 3), "PNG");
    EXPECT_EQ(png.substr(png.size() - 8, 4), "IEND");
  }
  auto be = make_backend(Device::CPU);
  for (const char* m : {"best", "last"})
    if (fs::exists(run / m)) {
      EXPECT_NO_THROW(load_model_dir((run / m).string(), *be)) << m;
    }
}

TEST(TrainResume, SigkillAtRandomMomentsLeavesCompleteFilesAndResumes) {
  fs::path data = resume_dataset("kill");
  fs::path root = data.parent_path();
  RunConfig run = cli_config();
  run.train.epochs = 8;
  run.train.iterations_per_epoch = 25;  // a few seconds: long enough to be killed many times
  fs::path config = write_config(root, run);
  fs::path ref = root / "uninterrupted", out = root / "killed";
  std::string log = (root / "kill.log").string();
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(test::run_command(cli(config, data, ref, false), log), 0) << read_file(log);
  // Kill moments relative to the uninterrupted run's duration (fixed ones were too late on a
  // fast machine: the run finished first): 5 to 40 % of it, so that several kills land.
  const int full_ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::steady_clock::now() - t0).count());
  std::mt19937 gen(2024);
  std::uniform_int_distribution<int> delay_ms(full_ms / 20, std::max(full_ms * 2 / 5, 2));
  int kills = 0, code = -1;
  std::string at;  // the checkpoint (epoch:iteration) left by each kill
  for (int attempt = 0; attempt < 10; ++attempt) {
    bool resume = fs::exists(out / "checkpoint.safetensors");
    test::Child c(cli(config, data, out, resume), log);
    ASSERT_TRUE(c.started());
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(gen)));
    if (c.exited(&code)) break;  // finished before the kill
    c.signal(SIGKILL);
    const int status = c.wait();
    if (status == 0) {  // it finished between the check above and the kill (seen in CI)
      code = 0;
      break;
    }
    EXPECT_EQ(status, 128 + SIGKILL);
    ++kills;
    expect_complete_outputs(out);
    if (fs::exists(out / "checkpoint.safetensors")) {
      training::Checkpoint k = training::read_checkpoint((out / "checkpoint.safetensors").string());
      at += " e" + std::to_string(k.state.epoch) + ":" + std::to_string(k.state.iteration);
    } else {
      at += " none";
    }
  }
  if (code != 0) {
    bool resume = fs::exists(out / "checkpoint.safetensors");
    ASSERT_EQ(test::run_command(cli(config, data, out, resume), log), 0) << read_file(log);
  }
  expect_complete_outputs(out);
  EXPECT_GE(kills, 3) << "the run finished too fast to be killed several times";
  std::printf("[kill] %d SIGKILLs; checkpoint after each:%s; resumed run equals the "
              "uninterrupted one\n", kills, at.c_str());
  EXPECT_EQ(csv_column(out, 1), csv_column(ref, 1));
  test::expect_same_weights(out / "last" / "weights.safetensors", ref / "last" / "weights.safetensors");
  for (const auto& e : fs::directory_iterator(out))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos)
        << "leftover " << e.path();
}

}  // namespace
}  // namespace useg
