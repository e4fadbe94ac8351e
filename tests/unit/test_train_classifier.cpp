// Training a classifier with useg train's machinery on generated images (discs vs squares, in
// class folders and in a CSV): it learns them, writes model folders that say what they are,
// metrics with accuracy and per-class recall, resumes bit for bit, and bad data is an error
// naming the file.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "common/expect_error.h"
#include "common/image_fixtures.h"
#include "common/shape_classes.h"
#include "common/train_fixtures.h"
#include "core/files.h"
#include "segment_test_util.h"
#include "train/class_data.h"
#include "train/class_train.h"
#include "useg/classify.h"
#include "useg/config.h"
#include "useg/model.h"
#include "useg/train.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

TrainResult train_quietly(TrainOptions o) {
  o.log = [](const std::string&) {};
  o.tty = 0;
  return train(o);
}

TEST(TrainClassifier, LearnsShapesAndWritesAClassifierModel) {
  fs::path data = test::make_shapes("cls_shapes", 32, 1);
  fs::path run = test::fresh_dir("cls_run");
  TrainOptions o;
  o.data_dir = data.string();
  o.output_dir = (run / "r").string();
  o.config = test::cnn_config(10);
  TrainResult r = train_quietly(o);
  EXPECT_EQ(r.epochs_done, 10);
  EXPECT_GE(r.best_dice, 0.9) << "best validation accuracy";
  auto be = make_backend(Device::CPU);
  LoadedModel m = load_model_dir((run / "r" / "best").string(), *be);
  EXPECT_EQ(m.info.labels, (std::vector<std::string>{"disc", "square"}));
  EXPECT_EQ(m.info.model.architecture, "layers");
  EXPECT_EQ(m.info.patch_size, (std::vector<int>{16, 16}));
  EXPECT_NE(m.info.provenance.count("val_accuracy"), 0u);
  std::string csv = read_file((run / "r" / "metrics.csv").string());
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "epoch,train_loss,recall_disc,recall_square,accuracy,lr,seconds,skipped_steps");

  // The final validation: best/'s predictions of the validation images, as useg classify writes
  // them, and useg eval --classification's report of them (its accuracy: the best epoch's).
  const fs::path v = run / "r" / "validation";
  const std::string pred = read_file((v / "predictions.csv").string());
  std::vector<std::string> rows;
  for (size_t a = 0, b; (b = pred.find('\n', a)) != std::string::npos; a = b + 1)
    rows.push_back(pred.substr(a, b - a));
  ASSERT_EQ(rows.size(), 17u) << pred;  // header + 16 images (val_fraction 0.25 of 64)
  EXPECT_EQ(rows[0], "image,class,probability,p_disc,p_square");
  std::string inputs, refs = "image,label\n";
  for (size_t i = 1; i < rows.size(); ++i) {
    const std::string image = rows[i].substr(0, rows[i].find(','));
    inputs += " " + test::quote(image);
    refs += image + "," + fs::path(image).parent_path().filename().string() + "\n";
  }
  auto c = test::run_useg("classify --model " + test::quote(run / "r" / "best") + " --input" +
                          inputs + " --output " + test::quote(run / "classify.csv"));
  ASSERT_EQ(c.code, 0) << c.output;
  EXPECT_EQ(read_file((run / "classify.csv").string()), pred) << "what useg classify writes";
  test::write_text(run / "refs.csv", refs);
  auto e = test::run_useg("eval --classification --pred " + test::quote(v / "predictions.csv") +
                          " --ref " + test::quote(run / "refs.csv") + " --json " +
                          test::quote(run / "eval.json"));
  ASSERT_EQ(e.code, 0) << e.output;
  nlohmann::json summary = nlohmann::json::parse(read_file((v / "summary.json").string()));
  nlohmann::json ev = nlohmann::json::parse(read_file((run / "eval.json").string()));
  EXPECT_EQ(summary.at("model").at("folder"), "best");
  for (const char* key : {"n", "accuracy", "balanced_accuracy", "macro_f1", "macro_auc",
                          "per_class", "confusion"})
    EXPECT_EQ(summary.at(key), ev.at(key)) << key;
  EXPECT_DOUBLE_EQ(summary.at("accuracy").get<double>(), r.best_dice);
}

TEST(TrainClassifier, StopAndResumeIsBitIdentical) {
  fs::path data = test::make_shapes("cls_resume_data", 12, 2);
  fs::path run = test::fresh_dir("cls_resume");
  TrainOptions full;
  full.data_dir = data.string();
  full.output_dir = (run / "full").string();
  full.config = test::cnn_config(2);
  full.config->train.class_balanced = true;
  train_quietly(full);
  TrainOptions part = full;
  part.output_dir = (run / "part").string();
  part.stop_after_steps = 13;
  EXPECT_EQ(train_quietly(part).status, TrainResult::Status::Interrupted);
  part.stop_after_steps = 0;
  part.resume = true;
  part.config.reset();
  train_quietly(part);
  EXPECT_EQ(read_file((run / "full" / "last" / "weights.safetensors").string()),
            read_file((run / "part" / "last" / "weights.safetensors").string()));
}

TEST(TrainClassifier, CsvDatasetsAndClassOrder) {
  fs::path data = test::make_shapes("cls_csv", 3, 3);
  std::ofstream(data / "labels.csv") << "image,label\n"
                                     << "disc/img0.png,round\n"
                                     << "\"square/img1.png\",box\n"
                                     << "disc/img1.png,round\n";
  training::ClassDataset ds = training::scan_class_dataset((data / "labels.csv").string(), {});
  EXPECT_EQ(ds.classes, (std::vector<std::string>{"box", "round"}));
  ASSERT_EQ(ds.items.size(), 3u);
  EXPECT_EQ(ds.items[0].name, "disc/img0.png");
  EXPECT_EQ(ds.items[0].label, 1);
  // train.classes fixes the order (and the set).
  ds = training::scan_class_dataset((data / "labels.csv").string(), {"round", "box"});
  EXPECT_EQ(ds.items[0].label, 0);
  // Stratified validation: every class is validated.
  ds = training::scan_class_dataset(data.string(), {});
  TrainConfig t;
  t.val_fraction = 0.34;
  std::vector<std::string> val = training::split_class_validation(ds, t);
  ASSERT_EQ(val.size(), 2u);
  EXPECT_EQ(val[0].substr(0, 4), "disc");
  EXPECT_EQ(val[1].substr(0, 6), "square");
  // train.val_cases names the items; an unknown name is an error naming it.
  t.val_cases = {"square/img2.png", "disc/img0.png"};
  EXPECT_EQ(training::split_class_validation(ds, t),
            (std::vector<std::string>{"disc/img0.png", "square/img2.png"}));
  t.val_cases = {"disc/img9.png"};
  test::expect_error([&] { training::split_class_validation(ds, t); },
                     "train.val_cases: 1 name(s) are not images of " + data.string() +
                         ": disc/img9.png");
}

TEST(TrainClassifier, BadDataNamesTheFile) {
  fs::path data = test::make_shapes("cls_bad", 2, 4);
  fs::create_directories(data / "empty_class");
  test::expect_error([&] { training::scan_class_dataset(data.string(), {}); },
                     (data / "empty_class").string() + ": the class folder holds no image");
  std::ofstream(data / "a.csv") << "image,label\ndisc/img0.png,round\ndisc/gone.png,round\n";
  test::expect_error([&] { training::scan_class_dataset((data / "a.csv").string(), {}); },
                     "a.csv line 3: " + (data / "disc" / "gone.png").string() +
                         " does not exist");
  std::ofstream(data / "b.csv") << "file,class\ndisc/img0.png,round\n";
  test::expect_error([&] { training::scan_class_dataset((data / "b.csv").string(), {}); },
                     "b.csv: line 1 must be a header with the columns image and label");
  std::ofstream(data / "c.csv") << "image,label\ndisc/img0.png,round\nsquare/img0.png,box\n";
  test::expect_error(
      [&] { training::scan_class_dataset((data / "c.csv").string(), {"round", "star"}); },
      (data / "square" / "img0.png").string() +
          ": label 'box' is not one of the classes (round, star, train.classes)");
  // An RGB image for a 1-channel model.
  ModelInfo info;
  info.model = test::cnn_config(1).model;
  info.patch_size = {16, 16};
  info.preprocess.channels.resize(1);
  Image rgb;
  rgb.source = "rgb.png";
  rgb.geometry.dims = 2;
  rgb.geometry.size = {20, 20, 1};
  rgb.voxels = Tensor::zeros(Shape{1, 3, 1, 20, 20});
  test::expect_error([&] { classifier_input(rgb, info); },
                     "rgb.png: the image has 3 channel(s), the model expects 1");
}

TEST(TrainClassifier, ScoresCountAccuracyRecallAndBalance) {
  training::ClassScores s = training::classification_scores({0, 0, 0, 1, 2, 2}, {0, 0, 1, 1, 2, 0}, 4);
  EXPECT_DOUBLE_EQ(s.accuracy, 4.0 / 6);
  EXPECT_DOUBLE_EQ(s.recall[0], 2.0 / 3);
  EXPECT_DOUBLE_EQ(s.recall[1], 1.0);
  EXPECT_DOUBLE_EQ(s.recall[2], 0.5);
  EXPECT_TRUE(std::isnan(s.recall[3]));  // class 3 absent: not part of the balance
  EXPECT_DOUBLE_EQ(s.balanced_accuracy, (2.0 / 3 + 1.0 + 0.5) / 3);
}

TEST(TrainClassifier, ConfigRulesForClassifiers) {
  RunConfig r = test::cnn_config(1);
  EXPECT_EQ(r.train.loss, LossKind::CrossEntropy) << "a classifier's default loss";
  test::expect_error(
      [&] {
        parse_run_config(R"({"model": {"architecture": "encoder_classifier"},
                             "train": {"patch_size": [32, 32], "loss": "dice"}})",
                         "x.json");
      },
      "x.json: train.loss: 'dice' is a segmentation loss; a classifier takes ce, mse, hinge or "
      "multi_hinge");
  test::expect_error(
      [&] { parse_run_config(R"({"model": {"architecture": "encoder_classifier"}})", "y.json"); },
      "y.json: missing required key 'train.patch_size' (expected the images' size for this "
      "classifier, or model.input_size)");
  test::expect_error(
      [&] {
        parse_run_config(R"({"train": {"patch_size": [32, 32], "class_balanced": true}})",
                         "z.json");
      },
      "z.json: train.class_balanced: is for classifiers");
}

}  // namespace
}  // namespace useg
