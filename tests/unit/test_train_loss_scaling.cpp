// Dynamic loss scaling in training (train.loss_scaling, train/loss_scaler.h). The CPU runs float32,
// so the scale must be invisible there: scaling and unscaling by powers of 2 are exact, and a run
// with dynamic scaling ends with the very same weights as one without. Overflows (injected after
// the backward pass) skip the step and halve the scale without stopping the run; the scale
// survives a stop and resume.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "common/expect_error.h"
#include "common/image_fixtures.h"
#include "common/train_fixtures.h"
#include "common/same_weights.h"
#include "train/checkpoint.h"
#include "train/loss_scaler.h"
#include "useg/error.h"
#include "io/safetensors.h"
#include "useg/train.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

fs::path scaling_dataset() {
  static fs::path d = [] {
    fs::path p = test::fresh_dir("train_loss_scaling") / "data";
    test::BlobDataset b;
    b.cases = 5;
    b.size = 32;
    b.radius_min = 4;
    b.radius_max = 7;
    test::write_blob_dataset(p, b);
    return p;
  }();
  return d;
}

// Batch norm, deep supervision and Dice + CE: every backward path the scale passes through.
RunConfig scaling_config(const std::string& mode) {
  RunConfig r = test::tiny_run(2);
  r.model.norm = NormKind::Batch;
  r.model.deep_supervision = true;
  r.model.depth = 3;
  r.train.patch_size = {16, 16};
  r.train.batch_size = 2;
  r.train.epochs = 2;
  r.train.iterations_per_epoch = 4;
  r.train.optimizer = "sgd";
  r.train.lr = 0.02;
  r.train.val_fraction = 0.2;
  r.train.loss_scaling = mode;
  return r;
}

struct ScaledRun {
  TrainResult result;
  fs::path dir;
  std::vector<std::string> log;
};

ScaledRun run(const std::string& name, const RunConfig& cfg,
        const std::function<bool(int64_t)>& poison = nullptr, int64_t stop_after = 0,
        bool resume = false) {
  ScaledRun r;
  r.dir = scaling_dataset().parent_path() / name;
  if (!resume) fs::remove_all(r.dir);
  TrainOptions o;
  o.data_dir = scaling_dataset().string();
  o.output_dir = r.dir.string();
  o.config = cfg;
  o.resume = resume;
  o.tty = 0;
  o.threads = 1;
  o.stop_after_steps = stop_after;
  o.poison_gradients = poison;
  o.log = [&r](const std::string& line) { r.log.push_back(line); };
  r.result = train(o);
  return r;
}

bool logged(const ScaledRun& r, const std::string& text) {
  for (const std::string& l : r.log)
    if (l.find(text) != std::string::npos) return true;
  return false;
}

TEST(LossScaler, BacksOffOnOverflowAndGrowsAfterAnInterval) {
  training::LossScaler s(1024.f, 2.f, 0.5f, 3);
  EXPECT_EQ(s.scale(), 1024.f);
  EXPECT_FALSE(s.update(false));  // overflow: skip the step, halve the scale
  EXPECT_EQ(s.last_inv_scale(), 1.f / 1024.f);
  EXPECT_EQ(s.scale(), 512.f);
  EXPECT_TRUE(s.update(true));
  EXPECT_EQ(s.last_inv_scale(), 1.f / 512.f);
  EXPECT_TRUE(s.update(true));
  EXPECT_EQ(s.scale(), 512.f);
  EXPECT_TRUE(s.update(true));  // third finite step in a row: grow
  EXPECT_EQ(s.scale(), 1024.f);
  EXPECT_EQ(s.good_steps(), 0);
  EXPECT_TRUE(s.update(true));
  s.restore(64.f, 2);
  EXPECT_EQ(s.scale(), 64.f);
  EXPECT_EQ(s.good_steps(), 2);
  EXPECT_TRUE(s.update(true));  // the restored count goes on: third good step grows
  EXPECT_EQ(s.scale(), 128.f);
  EXPECT_THROW(training::LossScaler(1.f, 0.5f), Error);
  test::expect_error([&] { s.restore(0.f, 0); }, "loss scaler state: expected a finite scale > 0");
  test::expect_error([&] { s.restore(8.f, 3); }, "0 <= good steps < 3, got 8 and 3");
}

TEST(TrainLossScaling, DynamicScalingOnTheCpuEndsWithTheSameWeightsBitForBit) {
  ScaledRun off = run("off", scaling_config("off"));
  ScaledRun dyn = run("dynamic", scaling_config("dynamic"));
  ASSERT_EQ(off.result.status, TrainResult::Status::Completed);
  ASSERT_EQ(dyn.result.status, TrainResult::Status::Completed);
  EXPECT_EQ(off.result.loss_scale, 0);
  EXPECT_EQ(dyn.result.loss_scale, 65536);  // 8 finite steps: no overflow, no growth yet
  EXPECT_EQ(dyn.result.skipped_steps, 0);
  EXPECT_TRUE(logged(dyn, "dynamic loss scaling (train.loss_scaling = dynamic): scale 65536"));
  EXPECT_FALSE(logged(off, "loss scaling"));
  EXPECT_EQ(dyn.result.last_train_loss, off.result.last_train_loss);
  // Equal weights show both halves: a scale that never reached the gradients would leave them
  // 2^16 times too small after the unscaling (different SGD updates), and one not divided out
  // would leave them 2^16 times too large.
  test::expect_same_weights(off.dir / "last" / "weights.safetensors",
                      dyn.dir / "last" / "weights.safetensors");
  // auto = dynamic only with fp16 convolutions; on the CPU (float32) it is off.
  ScaledRun aut = run("auto", scaling_config("auto"));
  EXPECT_EQ(aut.result.loss_scale, 0);
  EXPECT_FALSE(logged(aut, "loss scaling"));
}

TEST(TrainLossScaling, OverflowsSkipTheStepHalveTheScaleAndDoNotStopTheRun) {
  // 6 overflowing steps in a row: more than max_nonfinite_steps (5), but each is the scaler's
  // business while the scale is above 1.
  auto six = [](int64_t s) { return s >= 1 && s <= 6; };
  ScaledRun dyn = run("overflow", scaling_config("dynamic"), six);
  EXPECT_EQ(dyn.result.status, TrainResult::Status::Completed);
  EXPECT_EQ(dyn.result.skipped_steps, 6);
  EXPECT_EQ(dyn.result.loss_scale, 65536.0 / 64);
  EXPECT_TRUE(logged(dyn, "epoch 1, step 2: gradients overflowed at loss scale 65536, update "
                          "skipped, loss scale now 32768 (1 steps skipped in all)"));
  EXPECT_TRUE(logged(dyn, "epoch 2, step 3: gradients overflowed at loss scale 2048, update "
                          "skipped, loss scale now 1024 (6 steps skipped in all)"));
  SafetensorsFile w = read_safetensors((dyn.dir / "last" / "weights.safetensors").string());
  for (const auto& [name, t] : w.tensors)
    for (float v : t.to_vector()) ASSERT_TRUE(std::isfinite(v)) << name;
  // Without scaling the same gradients are a divergence: 5 in a row stop the run.
  test::expect_error([&] { run("overflow_off", scaling_config("off"), six); },
                     "training stopped: 5 steps in a row had a non-finite loss or gradient");
  // At a scale of 1 an overflow is a divergence too (the unscaled gradients overflow).
  RunConfig one = scaling_config("dynamic");
  one.train.loss_scale_init = 1;
  one.train.max_nonfinite_steps = 1;
  test::expect_error([&] { run("overflow_at_1", one, six); },
                     "training stopped: 1 steps in a row had a non-finite loss or gradient");
}

TEST(TrainLossScaling, TheScaleSurvivesStopAndResume) {
  auto two = [](int64_t s) { return s == 1 || s == 2; };
  ScaledRun ref = run("resume_ref", scaling_config("dynamic"), two);
  ASSERT_EQ(ref.result.loss_scale, 16384);
  ScaledRun stopped = run("resume_cut", scaling_config("dynamic"), two, 3);
  ASSERT_EQ(stopped.result.status, TrainResult::Status::Interrupted);
  training::Checkpoint c =
      training::read_checkpoint((stopped.dir / "checkpoint.safetensors").string());
  EXPECT_EQ(c.state.loss_scale, 16384);
  EXPECT_EQ(c.state.loss_scale_good_steps, 0);  // the step after the overflows
  ScaledRun resumed = run("resume_cut", scaling_config("dynamic"), two, 0, true);
  EXPECT_EQ(resumed.result.status, TrainResult::Status::Completed);
  EXPECT_EQ(resumed.result.loss_scale, 16384);
  EXPECT_EQ(resumed.result.skipped_steps, 2);
  test::expect_same_weights(ref.dir / "last" / "weights.safetensors",
                      resumed.dir / "last" / "weights.safetensors");
}

}  // namespace
}  // namespace useg
