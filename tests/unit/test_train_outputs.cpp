// What a run writes (metrics rows, curves, checkpoints, model folders swapped in whole) and what
// planning decides (median spacing, CT statistics, normalization per channel name).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "common/expect_error.h"
#include "common/image_fixtures.h"
#include "common/train_fixtures.h"
#include "plot/curves.h"
#include "train/checkpoint.h"
#include "train/data.h"
#include "train/outputs.h"
#include "core/files.h"
#include "useg/model.h"
#include "nn/optimizer.h"

namespace fs = std::filesystem;

namespace useg::training {
namespace {

TEST(TrainOutputs, MetricsRowsRoundTrip) {
  EXPECT_EQ(metrics_header(metrics_layout({"background", "left kidney", "tumour/cyst"}, false)),
            "epoch,train_loss,dice_left_kidney,dice_tumour_cyst,mean_fg_dice,lr,seconds,"
            "skipped_steps");
  // A classifier reports every class's recall and the accuracy.
  EXPECT_EQ(metrics_header(metrics_layout({"normal", "abnormal cell"}, true)),
            "epoch,train_loss,recall_normal,recall_abnormal_cell,accuracy,lr,seconds,"
            "skipped_steps");
  EpochRow a;
  a.epoch = 3;
  a.train_loss = 0.1 + 0.2;  // 17 digits keep it exact
  a.scores = {0.875, std::nan("")};
  a.score = 0.875;
  a.lr = 1e-3;
  a.seconds = 12.25;
  a.skipped_steps = 2;
  EpochRow b = a;
  b.epoch = 4;
  b.scores = {std::nan(""), std::nan("")};
  b.score = std::nan("");  // no validation this epoch: empty cells
  std::string text = metrics_row(a) + "\n" + metrics_row(b) + "\n";
  EXPECT_EQ(metrics_row(b), "4,0.30000000000000004,,,,0.001,12.25,2");
  std::vector<EpochRow> rows = parse_metrics_rows(text, 2, "m");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].train_loss, a.train_loss);
  EXPECT_EQ(rows[0].scores[0], 0.875);
  EXPECT_TRUE(std::isnan(rows[0].scores[1]));
  EXPECT_TRUE(std::isnan(rows[1].score));
  EXPECT_EQ(rows[1].skipped_steps, 2);
  EXPECT_THROW(parse_metrics_rows("1,2,3\n", 2, "m"), Error);
}

TEST(TrainOutputs, NiceTicks) {
  EXPECT_EQ(plot::nice_ticks(0, 1, 6), (std::vector<double>{0, 0.2, 0.4, 0.6, 0.8, 1}));
  EXPECT_EQ(plot::nice_ticks(0.5, 10.5, 8), (std::vector<double>{2, 4, 6, 8, 10}));
  EXPECT_EQ(plot::nice_ticks(0.5, 2.5, 8, 1.0), (std::vector<double>{1, 2}));  // whole epochs
  EXPECT_EQ(plot::nice_ticks(0, 26, 8, 1.0), (std::vector<double>{0, 5, 10, 15, 20, 25}));
  // (0.091 - 0.013) / 6 = 0.013 -> step 0.02
  EXPECT_EQ(plot::nice_ticks(0.013, 0.091, 6), (std::vector<double>{0.02, 0.04, 0.06, 0.08}));
  EXPECT_EQ(plot::nice_ticks(0, 1.1, 5), (std::vector<double>{0, 0.25, 0.5, 0.75, 1}));  // 0.22 -> 0.25
}

TEST(TrainOutputs, CurvesRenderAsPng) {
  plot::Series loss{"training loss", {}, {}}, d1{"Dice liver", {}, {}}, d2{"Dice tumour", {}, {}};
  for (int e = 1; e <= 40; ++e) {
    loss.x.push_back(e);
    loss.y.push_back(1.2 * std::exp(-e / 12.0) + 0.05);
    if (e % 2) continue;
    d1.x.push_back(e);
    d1.y.push_back(0.95 - 0.6 * std::exp(-e / 8.0));
    d2.x.push_back(e);
    d2.y.push_back(0.7 - 0.6 * std::exp(-e / 15.0));
  }
  fs::path dir = test::fresh_dir("train_curves");
  plot::write_training_curves((dir / "curves.png").string(), {loss}, {d1, d2}, "demo", 40, 0.82);
  std::string png = read_file((dir / "curves.png").string());
  ASSERT_GT(png.size(), 1000u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  // No data yet (first epoch still running): still a valid picture.
  std::string empty = plot::render_training_curves({}, {}, "empty");
  EXPECT_EQ(empty.substr(1, 3), "PNG");
}

TEST(TrainOutputs, CheckpointRoundTripIsExact) {
  auto be = make_backend(Device::CPU);
  ModelConfig m;
  m.dims = 2;
  m.base_filters = 4;
  m.depth = 1;
  m.norm = NormKind::Batch;
  Network net(m, *be);
  net.init_weights(9);
  OptimizerConfig oc;
  oc.type = "adamw";
  Optimizer opt(oc, net.parameters(), *be);
  for (Parameter* p : net.parameters()) {
    p->grad = Tensor::full(p->value.shape(), 0.01f);
  }
  opt.step(1e-3);
  TrainState s;
  s.epoch = 4;
  s.iteration = 7;
  s.epoch_loss_sum = 1.0 / 3.0;
  s.epoch_loss_count = 7;
  s.best_dice = 0.1 + 0.7;
  s.best_epoch = 3;
  s.nonfinite_run = 1;
  s.metrics_rows = "1,0.5,0.25,0.25,0.001,1,0\n";
  fs::path dir = test::fresh_dir("train_checkpoint");
  std::string path = (dir / "checkpoint.safetensors").string();
  write_checkpoint(path, net, opt, s, "{\"config\": 1}", "{\"info\": 2}", {"t1", "t2", "t3"},
                   {"a", "case b"});
  Checkpoint c = read_checkpoint(path);
  EXPECT_EQ(c.state.epoch, 4);
  EXPECT_EQ(c.state.iteration, 7);
  EXPECT_EQ(c.state.epoch_loss_sum, 1.0 / 3.0);
  EXPECT_EQ(c.state.best_dice, 0.1 + 0.7);
  EXPECT_EQ(c.state.nonfinite_run, 1);
  EXPECT_EQ(c.state.metrics_rows, s.metrics_rows);
  EXPECT_EQ(c.optimizer_steps, 1);
  EXPECT_EQ(c.config_json, "{\"config\": 1}");
  EXPECT_EQ(c.val_cases, (std::vector<std::string>{"a", "case b"}));
  EXPECT_EQ(c.train_cases, (std::vector<std::string>{"t1", "t2", "t3"}));
  for (auto& [name, t] : net.state_dict()) {
    ASSERT_TRUE(c.model.count(name)) << name;
    EXPECT_EQ(std::memcmp(c.model.at(name).data(), t.data(), t.bytes()), 0) << name;
  }
  for (auto& [name, t] : opt.state()) {
    ASSERT_TRUE(c.optimizer.count(name)) << name;
    EXPECT_EQ(std::memcmp(c.optimizer.at(name).data(), t.data(), t.bytes()), 0) << name;
  }
  // A model folder's weights are not a checkpoint.
  save_model_dir((dir / "m").string(), ModelInfo{}, net);
  test::expect_error([&] { read_checkpoint((dir / "m" / "weights.safetensors").string()); },
                     "not a useg training checkpoint");

  // The metadata alone (find-postprocess's case lists): the same fields, no
  // tensors.
  const Checkpoint h = read_checkpoint(path, false);
  EXPECT_TRUE(h.model.empty() && h.optimizer.empty());
  EXPECT_EQ(h.state.epoch, 4);
  EXPECT_EQ(h.state.best_dice, 0.1 + 0.7);
  EXPECT_EQ(h.state.metrics_rows, s.metrics_rows);
  EXPECT_EQ(h.optimizer_steps, 1);
  EXPECT_EQ(h.config_json, c.config_json);
  EXPECT_EQ(h.model_info_json, "{\"info\": 2}");
  EXPECT_EQ(h.val_cases, c.val_cases);
  EXPECT_EQ(h.train_cases, c.train_cases);
  test::expect_error([&] { read_checkpoint((dir / "m" / "weights.safetensors").string(), false); },
                     "not a useg training checkpoint");
  // A checkpoint cut short is an error naming it there too (its header lists
  // data that is gone).
  const std::string bytes = read_file(path);
  test::write_text(dir / "cut.safetensors", bytes.substr(0, bytes.size() - 100));
  test::expect_error([&] { read_checkpoint((dir / "cut.safetensors").string(), false); },
                     (dir / "cut.safetensors").string());
  test::write_text(dir / "tiny.safetensors", bytes.substr(0, 5));
  test::expect_error([&] { read_checkpoint((dir / "tiny.safetensors").string(), false); },
                     "tiny.safetensors: not a safetensors file: 5 bytes");
}

TEST(TrainOutputs, ModelFolderIsSwappedInWhole) {
  auto be = make_backend(Device::CPU);
  ModelConfig m;
  m.base_filters = 4;
  m.depth = 1;
  Network net(m, *be);
  ModelInfo info;
  info.model = m;
  info.provenance["trained_epochs"] = "1";
  fs::path dir = test::fresh_dir("train_model_swap");
  save_model_dir_atomic((dir / "best").string(), info, net);
  info.provenance["trained_epochs"] = "2";
  net.init_weights(5);
  save_model_dir_atomic((dir / "best").string(), info, net);
  LoadedModel l = load_model_dir((dir / "best").string(), *be);
  EXPECT_EQ(l.info.provenance.at("trained_epochs"), "2");
  auto a = l.net->state_dict(), b = net.state_dict();
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_EQ(std::memcmp(a[i].second.data(), b[i].second.data(), a[i].second.bytes()), 0);
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    ++entries;
    EXPECT_EQ(e.path().filename(), "best");
  }
  EXPECT_EQ(entries, 1) << "no temporary folder left behind";
  fs::create_directories(dir / ".last.tmp-123");
  write_file_atomic((dir / ".x.tmp-1-2.json").string(), "{}");
  remove_stale_temporaries(dir.string());
  EXPECT_FALSE(fs::exists(dir / ".last.tmp-123"));
  EXPECT_FALSE(fs::exists(dir / ".x.tmp-1-2.json"));
  EXPECT_TRUE(fs::exists(dir / "best" / "model.json"));
}

// ------------------------------------------------------------------------------ planning
// Three 3D cases with different spacings; foreground (label 1) intensities are constant per case,
// so the CT statistics can be computed by hand.
fs::path ct_dataset(const std::string& channel) {
  fs::path d = test::fresh_dir("train_plan_" + channel);
  fs::create_directories(d / "imagesTr");
  fs::create_directories(d / "labelsTr");
  const double spacing[3][3] = {{1, 1, 2}, {1, 1, 3}, {0.5, 1, 4}};  // x, y, z
  const float fg_value[3] = {100, 300, 200};
  for (int c = 0; c < 3; ++c) {
    Geometry g;
    g.dims = 3;
    g.size = {8, 8, 6};
    g.spacing = {spacing[c][0], spacing[c][1], spacing[c][2]};
    Tensor img = Tensor::full(Shape{1, 1, 6, 8, 8}, -1000.f);
    Tensor lab = Tensor::zeros(Shape{1, 1, 6, 8, 8});
    for (int64_t z = 2; z < 4; ++z)
      for (int64_t y = 2; y < 6; ++y)
        for (int64_t x = 2; x < 6; ++x) {
          img.at(0, 0, z, y, x) = fg_value[c];
          lab.at(0, 0, z, y, x) = 1;
        }
    std::string name = "ct_" + std::to_string(c);
    write_image((d / "imagesTr" / (name + "_0000.nii.gz")).string(), img, g, "float");
    write_image((d / "labelsTr" / (name + ".nii.gz")).string(), lab, g, "uint8");
  }
  test::write_text(d / "dataset.json", test::dataset_json(3, channel, 1));
  return d;
}

TEST(TrainPlan, MedianSpacingAndCtStatistics) {
  Dataset ds = scan_dataset(ct_dataset("CT").string());
  EXPECT_EQ(median_spacing(ds, 3), (std::vector<double>{3, 1, 1}));  // [D, H, W]
  EXPECT_EQ(median_spacing(ds, 2), (std::vector<double>{1, 1}));
  RunConfig run = test::tiny_run(3);
  run.train.target_spacing = "auto";
  std::vector<std::string> lines;
  ModelInfo info = plan_model_info(run, ds, 1, [&](const std::string& l) { lines.push_back(l); });
  EXPECT_EQ(info.preprocess.target_spacing, (std::vector<double>{3, 1, 1}));
  ASSERT_EQ(info.preprocess.channels.size(), 1u);
  const ChannelNorm& ch = info.preprocess.channels[0];
  EXPECT_EQ(ch.name, "CT");
  EXPECT_EQ(ch.scheme, IntensityScheme::CT);
  // 10000 samples per case, each case's foreground a single value: 100, 300, 200.
  EXPECT_EQ(ch.clip_low, 100);
  EXPECT_EQ(ch.clip_high, 300);
  EXPECT_NEAR(ch.mean, 200, 1e-9);
  EXPECT_NEAR(ch.std, std::sqrt(20000.0 / 3.0), 1e-9);  // population std of {100, 200, 300}
  bool logged = false;
  for (const auto& l : lines) logged = logged || l.find("ct normalization, clip [100, 300]") != std::string::npos;
  EXPECT_TRUE(logged);
}

TEST(TrainPlan, NormalizationByChannelName) {
  EXPECT_EQ(auto_scheme("CT"), IntensityScheme::CT);
  EXPECT_EQ(auto_scheme("ct"), IntensityScheme::CT);
  EXPECT_EQ(auto_scheme("noNorm"), IntensityScheme::None);
  EXPECT_EQ(auto_scheme("T2"), IntensityScheme::ZScore);
  EXPECT_EQ(auto_scheme("rgb_to_0_1"), IntensityScheme::ZScore);
  Dataset ds = scan_dataset(ct_dataset("T1").string());
  RunConfig run = test::tiny_run(3);
  ModelInfo info = plan_model_info(run, ds, 1, [](const std::string&) {});
  EXPECT_EQ(info.preprocess.channels[0].scheme, IntensityScheme::ZScore);
  EXPECT_TRUE(info.preprocess.target_spacing.empty());  // tiny_run: native
  EXPECT_FALSE(info.inference.tta);
  run.inference.tta = true;  // the config's inference section goes into model.json
  EXPECT_TRUE(plan_model_info(run, ds, 1, [](const std::string&) {}).inference.tta);
  run.inference.tta = false;
  run.train.normalization = "percentile";
  run.train.target_spacing_mm = {2, 0.5, 0.5};
  run.train.target_spacing = "auto";
  info = plan_model_info(run, ds, 1, [](const std::string&) {});
  EXPECT_EQ(info.preprocess.channels[0].scheme, IntensityScheme::Percentile);
  EXPECT_EQ(info.preprocess.target_spacing, (std::vector<double>{2, 0.5, 0.5}));
}

}  // namespace
}  // namespace useg::training
