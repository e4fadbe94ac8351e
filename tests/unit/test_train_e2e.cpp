// End to end on generated datasets: train on the CPU within a small budget, reach a stated
// validation Dice, then reproduce that Dice from best/ with the inference path `useg segment`
// uses (load_model_dir + preprocess + predict_probabilities + argmax + dice_per_class).
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "common/image_fixtures.h"
#include "common/train_fixtures.h"
#include "train/checkpoint.h"
#include "train/dataset.h"
#include "core/files.h"
#include "imaging/imaging.h"
#include "useg/infer.h"
#include "useg/metrics.h"
#include "useg/model.h"
#include "io/safetensors.h"
#include "useg/train.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

// Mean foreground Dice of best/ over the run's validation cases, computed from the files: on the
// network's grid (the reference label brought there by nearest neighbour, as training does) and,
// in `original`, on the image's own grid (probabilities resampled back linearly, then argmax).
double dice_from_best(const fs::path& data, const fs::path& run, int window_batch,
                      double* original) {
  auto be = make_backend(Device::CPU);
  LoadedModel m = load_model_dir((run / "best").string(), *be);
  training::Checkpoint c = training::read_checkpoint((run / "checkpoint.safetensors").string());
  EXPECT_FALSE(c.val_cases.empty());
  Dataset ds = scan_dataset(data.string());
  const auto& p = m.info.patch_size;
  WindowOptions wo;
  wo.patch = p.size() == 3 ? std::array<int64_t, 3>{p[0], p[1], p[2]}
                           : std::array<int64_t, 3>{1, p[0], p[1]};
  wo.batch = window_batch;
  const int K = m.info.model.num_classes;
  double sum = 0, sum_original = 0;
  auto mean_fg = [K](const std::vector<double>& d) {
    double fg = 0;
    for (int k = 1; k < K; ++k) fg += d[static_cast<size_t>(k)];
    return fg / (K - 1);
  };
  for (const std::string& name : c.val_cases) {
    const DatasetCase* dc = nullptr;
    for (const DatasetCase& x : ds.cases)
      if (x.name == name) dc = &x;
    EXPECT_NE(dc, nullptr) << name;
    Image image = read_image_channels(dc->images);
    NetworkInput in = preprocess(image, m.info);
    Tensor probs = predict_probabilities(*m.net, in.volume, wo);
    Image ref = read_image(dc->label);
    Tensor ref_grid = in.resampled ? resample_to_geometry(ref.voxels, ref.geometry, in.geometry,
                                                          Interp::Nearest)
                                   : ref.voxels;
    sum += mean_fg(dice_per_class(argmax_labels(probs), ref_grid, K));
    Tensor back = in.resampled ? resample_to_geometry(probs, in.geometry, image.geometry,
                                                      Interp::Linear)
                               : probs;
    sum_original += mean_fg(dice_per_class(argmax_labels(back), ref.voxels, K));
  }
  *original = sum_original / double(c.val_cases.size());
  return sum / double(c.val_cases.size());
}

double run_and_check(const std::string& name, int dims, const RunConfig& run,
                     const test::BlobDataset& blobs, double min_dice) {
  fs::path root = test::fresh_dir("train_e2e_" + name);
  fs::path data = root / "Dataset001_Blobs", out = root / "run";
  test::write_blob_dataset(data, blobs);
  TrainOptions o;
  o.data_dir = data.string();
  o.output_dir = out.string();
  o.config = run;
  o.tty = 0;
  // One thread: these networks are tiny, so OpenMP barriers dominate, and on a shared machine a
  // spinning second thread gets descheduled (observed: 0.03 s per step on 1 thread, 0.27 s on 2).
  o.threads = 1;
  auto t0 = std::chrono::steady_clock::now();
  TrainResult r = train(o);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.status, TrainResult::Status::Completed);
  EXPECT_EQ(r.epochs_done, run.train.epochs);
  EXPECT_GE(r.best_dice, min_dice) << "best validation mean foreground Dice";
  double original = 0;
  double again = dice_from_best(data, out, run.train.batch_size, &original);
  EXPECT_GE(original, min_dice - 0.05) << "Dice on the images' own grid";
  EXPECT_DOUBLE_EQ(again, r.best_dice) << "best/ reproduces the validation Dice";
  std::printf("[e2e %s] %dD, %d cases: best val Dice %.4f at epoch %d (reproduced from best/: "
              "%.4f; on the original grid %.4f), last %.4f, %d epochs x %d steps, %.1f s wall, median "
              "step %.3f s\n",
              name.c_str(), dims, blobs.cases, r.best_dice, r.best_epoch, again, original, r.last_dice,
              run.train.epochs, run.train.iterations_per_epoch, secs, r.median_step_seconds);
  // The outputs a user looks at.
  for (const char* f : {"config.json", "metrics.csv", "curves.png", "checkpoint.safetensors",
                        "best/model.json", "best/weights.safetensors", "last/model.json",
                        "last/weights.safetensors"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  std::string csv = read_file((out / "metrics.csv").string());
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "epoch,train_loss,dice_blob,mean_fg_dice,lr,seconds,skipped_steps");
  ModelInfo best = load_model_info((out / "best" / "model.json").string());
  EXPECT_EQ(best.labels, (std::vector<std::string>{"background", "blob"}));
  EXPECT_EQ(best.provenance.at("trained_epochs"), std::to_string(r.best_epoch));
  EXPECT_EQ(best.preprocess.channels.at(0).name, blobs.channel);
  return r.best_dice;
}

TEST(TrainE2E, Blobs2D) {
  test::BlobDataset b;  // 8 cases 64x64, discs of radius 7..12 on noise
  RunConfig run = test::tiny_run(2);
  run.model.base_filters = 8;
  run.model.depth = 3;
  run.train.patch_size = {32, 32};
  run.train.batch_size = 4;
  run.train.batch_dice = true;  // many 32x32 crops hold no disc: per-sample Dice is noise there
  run.train.epochs = 10;
  run.train.iterations_per_epoch = 12;
  run.train.lr = 1e-2;
  run.train.num_workers = 1;
  run_and_check("blobs2d", 2, run, b, 0.9);
}

TEST(TrainE2E, Spheres3DWithDeepSupervisionAndResampling) {
  test::BlobDataset b;
  b.dims = 3;
  b.cases = 6;
  b.size = 32;
  b.radius_min = 5;
  b.radius_max = 8;
  b.spacing = 1.5;
  RunConfig run = test::tiny_run(3);
  run.model.base_filters = 4;
  run.model.depth = 2;
  run.model.deep_supervision = true;
  run.train.patch_size = {16, 16, 16};
  run.train.batch_size = 2;
  run.train.epochs = 10;
  run.train.iterations_per_epoch = 12;
  run.train.lr = 1e-2;
  run.train.target_spacing_mm = {2.0, 2.0, 2.0};  // 32^3 at 1.5 mm -> 24^3 at 2 mm
  run.train.target_spacing = "auto";
  run.train.num_workers = 2;
  run_and_check("spheres3d", 3, run, b, 0.9);
}

// Two channels, labels {background 0, left 1, right 3} (remapped to classes 0..2), validation
// every second epoch, early stopping. Checks the plumbing, not the accuracy.
TEST(TrainE2E, MultiChannelMultiClassValIntervalAndEarlyStopping) {
  fs::path root = test::fresh_dir("train_e2e_multi");
  fs::path data = root / "Dataset002_Two";
  fs::create_directories(data / "imagesTr");
  fs::create_directories(data / "labelsTr");
  Geometry g;
  g.dims = 2;
  g.size = {32, 32, 1};
  for (int c = 0; c < 4; ++c) {
    Tensor a = Tensor::empty(Shape{1, 1, 1, 32, 32}), b = a.clone(), lab = Tensor::zeros(a.shape());
    for (int64_t y = 0; y < 32; ++y)
      for (int64_t x = 0; x < 32; ++x) {
        bool left = std::hypot(y - 12.0 - c, x - 8.0) < 5, right = std::hypot(y - 20.0, x - 22.0 + c) < 6;
        a.at(0, 0, 0, y, x) = float(left) + 0.1f * float((x * 7 + y * 13 + c) % 5);
        b.at(0, 0, 0, y, x) = float(right) + 0.1f * float((x * 3 + y * 11 + c) % 7);
        lab.at(0, 0, 0, y, x) = left ? 1.f : right ? 3.f : 0.f;
      }
    std::string n = "two_" + std::to_string(c);
    write_image((data / "imagesTr" / (n + "_0000.nii.gz")).string(), a, g);
    write_image((data / "imagesTr" / (n + "_0001.nii.gz")).string(), b, g);
    write_image((data / "labelsTr" / (n + ".nii.gz")).string(), lab, g, "uint8");
  }
  test::write_text(data / "dataset.json",
                   "{\"channel_names\": {\"0\": \"A\", \"1\": \"B\"}, \"labels\": {\"background\": 0, "
                   "\"left\": 1, \"right\": 3}, \"numTraining\": 4, \"file_ending\": \".nii.gz\"}");
  RunConfig run = test::tiny_run(2);
  run.model.in_channels = 2;
  run.model.num_classes = 3;
  run.train.epochs = 9;
  run.train.iterations_per_epoch = 2;
  run.train.val_interval = 2;
  run.train.patience = 2;
  run.train.lr = 1e-9;  // nothing improves: early stopping after the second validation
  TrainOptions o;
  o.data_dir = data.string();
  o.output_dir = (root / "run").string();
  o.config = run;
  o.tty = 0;
  o.threads = 1;
  o.log = [](const std::string&) {};
  TrainResult r = train(o);
  EXPECT_EQ(r.status, TrainResult::Status::EarlyStopped);
  EXPECT_EQ(r.epochs_done, 4);  // validations at epochs 2 and 4; no gain at 4
  EXPECT_EQ(r.best_epoch, 2);
  std::string csv = read_file((root / "run" / "metrics.csv").string());
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "epoch,train_loss,dice_left,dice_right,mean_fg_dice,lr,seconds,skipped_steps");
  EXPECT_NE(csv.find("\n1,"), std::string::npos);
  EXPECT_NE(csv.find(",,,,1e-09,"), std::string::npos) << "no Dice at epoch 1: " << csv;
  ModelInfo info = load_model_info((root / "run" / "best" / "model.json").string());
  EXPECT_EQ(info.labels, (std::vector<std::string>{"background", "left", "right"}));
  EXPECT_EQ(info.provenance.at("label_values"), "0,1,3");
  EXPECT_EQ(info.preprocess.channels.at(1).name, "B");
  o.resume = true;
  o.config.reset();
  EXPECT_EQ(train(o).status, TrainResult::Status::EarlyStopped) << "a finished run stays finished";
}

// Every loss the config offers runs through the trainer (label-map targets, deep supervision).
TEST(TrainE2E, EveryLossTrains) {
  fs::path root = test::fresh_dir("train_e2e_losses");
  test::BlobDataset b;
  b.cases = 3;
  b.size = 16;
  b.radius_min = 3;
  b.radius_max = 5;
  test::write_blob_dataset(root / "data", b);
  for (LossKind k : {LossKind::DiceCE, LossKind::CrossEntropy, LossKind::Dice, LossKind::MSE,
                     LossKind::Hinge}) {
    RunConfig run = test::tiny_run(2);
    run.train.patch_size = {16, 16};
    run.train.loss = k;
    run.train.epochs = 1;
    run.model.deep_supervision = true;
    TrainOptions o;
    o.data_dir = (root / "data").string();
    o.output_dir = (root / loss_name(k)).string();
    o.config = run;
    o.tty = 0;
    o.threads = 1;
    o.log = [](const std::string&) {};
    TrainResult r = train(o);
    EXPECT_EQ(r.status, TrainResult::Status::Completed) << loss_name(k);
    EXPECT_TRUE(std::isfinite(r.last_train_loss)) << loss_name(k);
    EXPECT_EQ(r.skipped_steps, 0) << loss_name(k);
  }
}

// A 2D model on 3D volumes trains on slices and validates slice by slice.
TEST(TrainE2E, TwoDimensionalModelOnVolumes) {
  fs::path root = test::fresh_dir("train_e2e_2d_on_3d");
  test::BlobDataset b;
  b.dims = 3;
  b.cases = 3;
  b.size = 16;
  b.radius_min = 4;
  b.radius_max = 5;
  test::write_blob_dataset(root / "data", b);
  RunConfig run = test::tiny_run(2);
  run.train.patch_size = {16, 16};
  run.train.epochs = 1;
  TrainOptions o;
  o.data_dir = (root / "data").string();
  o.output_dir = (root / "run").string();
  o.config = run;
  o.tty = 0;
  o.threads = 1;
  o.log = [](const std::string&) {};
  TrainResult r = train(o);
  EXPECT_EQ(r.status, TrainResult::Status::Completed);
  EXPECT_GE(r.last_dice, 0.0);
  ModelInfo info = load_model_info((root / "run" / "last" / "model.json").string());
  EXPECT_EQ(info.model.dims, 2);
}

}  // namespace
}  // namespace useg
