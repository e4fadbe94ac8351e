// useg classify and useg eval --classification: metrics against scikit-learn's numbers and a
// pairwise AUC count; predictions.csv with one row per image, bad files reported and skipped,
// resume, batch independence; object crops, their classes in the measurements CSV; the CLI.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "common/expect_error.h"
#include "common/image_fixtures.h"
#include "common/run_cli.h"
#include "core/files.h"
#include "useg/class_eval.h"
#include "useg/classify.h"
#include "useg/config.h"
#include "useg/labels.h"
#include "useg/model.h"
#include "useg/segment.h"
#include "util/csv.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

// ---------------------------------------------------------------------------- metrics

TEST(ClassEval, RocAucMatchesThePairwiseCount) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> q(0, 9);  // few distinct scores: many ties
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<double> s(40);
    std::vector<bool> pos(40);
    for (size_t i = 0; i < s.size(); ++i) s[i] = q(rng) * 0.1, pos[i] = q(rng) < 4;
    double wins = 0, pairs = 0;
    for (size_t i = 0; i < s.size(); ++i)
      for (size_t j = 0; j < s.size(); ++j)
        if (pos[i] && !pos[j]) wins += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0, pairs += 1;
    EXPECT_NEAR(roc_auc(s, pos), wins / pairs, 1e-12) << "trial " << trial;
  }
  EXPECT_TRUE(std::isnan(roc_auc({0.1, 0.2}, {true, true}))) << "no negative";
}

// The numbers of sklearn.metrics 1.2 on the same data: accuracy_score, balanced_accuracy_score,
// precision_recall_fscore_support(zero_division=0), f1_score(average="macro"),
// roc_auc_score(t == k, s[:, k]) and roc_auc_score(t, s, multi_class="ovr"), confusion_matrix.
TEST(ClassEval, ScoresMatchScikitLearn) {
  const std::vector<int> t{0, 0, 0, 1, 1, 2, 2, 2, 2, 0}, p{0, 1, 0, 1, 2, 2, 2, 0, 2, 0};
  const std::vector<std::vector<double>> s{{.7, .2, .1}, {.3, .6, .1}, {.5, .3, .2}, {.2, .5, .3},
                                           {.1, .3, .6}, {.1, .1, .8}, {.2, .2, .6}, {.5, .2, .3},
                                           {.3, .3, .4}, {.6, .3, .1}};
  ClassificationReport r = score_classification({"a", "b", "c"}, t, p, s);
  EXPECT_NEAR(r.accuracy, 0.7, 1e-12);
  EXPECT_NEAR(r.balanced_accuracy, 0.6666666666666666, 1e-12);
  EXPECT_NEAR(r.macro_f1, 0.6666666666666666, 1e-12);
  EXPECT_NEAR(r.macro_auc, 0.857638888888889, 1e-12);
  const double prf[3] = {0.75, 0.5, 0.75}, auc[3] = {0.9166666666666667, 0.78125, 0.875};
  const int64_t support[3] = {4, 2, 4};
  for (int k = 0; k < 3; ++k) {
    EXPECT_NEAR(r.per_class[k].precision, prf[k], 1e-12);
    EXPECT_NEAR(r.per_class[k].recall, prf[k], 1e-12);
    EXPECT_NEAR(r.per_class[k].f1, prf[k], 1e-12);
    EXPECT_NEAR(r.per_class[k].auc, auc[k], 1e-12);
    EXPECT_EQ(r.per_class[k].support, support[k]);
  }
  EXPECT_EQ(r.confusion, (std::vector<std::vector<int64_t>>{{3, 1, 0}, {0, 1, 1}, {1, 0, 3}}));
  const std::string csv = format_classification_csv(r);
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "class,support,predicted,precision,recall,f1,auc,predicted_a,predicted_b,predicted_c");
  EXPECT_NE(csv.find("\nb,2,2,0.5,0.5,0.5,0.78125,0,1,1\n"), std::string::npos) << csv;
}

TEST(ClassEval, PredictionFileErrorsNameTheLine) {
  fs::path d = test::fresh_dir("class_pred_errors");
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream((d / name).string()) << text;
    return (d / name).string();
  };
  test::expect_error([&] { read_class_predictions(write("a.csv", "image,label\nx.png,1\n")); },
                     "a.csv: line 1 must be useg classify's header");
  test::expect_error(
      [&] {
        read_class_predictions(
            write("b.csv", "image,class,probability,p_cat,p_dog\nx.png,cow,0.9,0.1,0.9\n"));
      },
      "b.csv line 2: class 'cow' is not one of the p_ columns of the header");
  test::expect_error(
      [&] {
        read_class_predictions(
            write("c.csv", "image,class,probability,p_cat,p_dog\nx.png,cat,0.9,abc,0.1\n"));
      },
      "c.csv line 2: p_cat is 'abc', expected a number");
  ClassPredictions p = read_class_predictions(
      write("d.csv", "image,class,probability,p_cat,p_dog\n\"a,b.png\",dog,0.75,0.25,0.75\n"));
  EXPECT_EQ(p.classes, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(p.images, (std::vector<std::string>{"a,b.png"}));
  EXPECT_EQ(p.predicted, (std::vector<int>{1}));
}

// ---------------------------------------------------------------------------- classify

// A randomly initialized 2-class CNN on 16x16 inputs, saved as a model folder.
fs::path make_classifier(const std::string& name) {
  fs::path dir = test::fresh_dir(name);
  RunConfig run = parse_run_config(R"({
    "model": {"architecture": "layers", "dims": 2, "in_channels": 1, "num_classes": 2,
              "input_size": [16, 16],
              "layers": [{"type": "conv", "filters": 4, "activation": "relu"},
                         {"type": "max_pool"},
                         {"type": "flatten"},
                         {"type": "dense", "units": 8, "activation": "tanh"},
                         {"type": "dense"}]}})",
                                   "cls.json");
  ModelInfo info;
  info.model = run.model;
  info.patch_size = {16, 16};
  info.labels = {"cat", "dog"};
  ChannelNorm ch;
  ch.name = "channel_0";
  ch.scheme = IntensityScheme::ZScore;
  info.preprocess.channels.push_back(ch);
  auto be = make_backend(Device::CPU);
  Network net(info.model, *be);
  net.init_weights(7);
  save_model_dir((dir / "model").string(), info, net);
  return dir / "model";
}

void write_png(const fs::path& file, int size, int channels, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(0, 255);
  Tensor t = Tensor::empty(Shape{1, channels, 1, size, size + 3});
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = float(u(rng));
  Geometry g;
  g.dims = 2;
  g.size = {size + 3, size, 1};
  fs::create_directories(file.parent_path());
  write_image(file.string(), t, g, "uint8");
}

struct Row {
  std::string image, cls;
  std::vector<double> values;  // probability, p_cat, p_dog
};
std::vector<Row> read_rows(const fs::path& csv) {
  std::vector<Row> rows;
  std::ifstream in(csv);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "image,class,probability,p_cat,p_dog");
  while (std::getline(in, line)) {
    std::vector<std::string> f = csv_split(line);
    Row r{f[0], f[1], {}};
    for (size_t i = 2; i < f.size(); ++i) r.values.push_back(std::stod(f[i]));
    rows.push_back(r);
  }
  return rows;
}

TEST(Classify, OneRowPerImageBadFilesReportedAndBatchIndependent) {
  const fs::path model = make_classifier("classify_model");
  const fs::path d = test::fresh_dir("classify_images");
  for (int i = 0; i < 5; ++i) write_png(d / "in" / (i < 3 ? "a" : "b") / (std::to_string(i) + ".png"), 20 + i, 1, i);
  std::ofstream((d / "in" / "a" / "broken.png").string()) << "not a png";
  write_png(d / "in" / "b" / "rgb.png", 20, 3, 9);
  ClassifyOptions o;
  o.models = {model.string()};
  o.inputs = {(d / "in").string()};
  o.output = (d / "pred.csv").string();
  o.recursive = true;
  o.batch = 2;
  ClassifyResult r = run_classify(o);
  EXPECT_EQ(r.done, 5);
  EXPECT_EQ(r.failed, 2);
  EXPECT_EQ(r.report, (d / "pred_report.json").string());
  const std::string report = read_file(r.report);
  EXPECT_NE(report.find("broken.png"), std::string::npos);
  EXPECT_NE(report.find("rgb.png: the image has 3 channel(s), the model expects 1"),
            std::string::npos)
      << report;
  const std::vector<Row> rows = read_rows(o.output);
  ASSERT_EQ(rows.size(), 5u);
  // The reference: each image alone through the classifier (batch 1), softmax of the logits.
  Classifier clf(model.string(), Device::CPU, {});
  for (const Row& row : rows) {
    ASSERT_EQ(row.values.size(), 3u);
    std::vector<double> want =
        clf.probabilities({classifier_input(read_image(row.image), clf.info())}, 1)[0];
    EXPECT_NEAR(row.values[1], want[0], 1e-6) << row.image;
    EXPECT_NEAR(row.values[2], want[1], 1e-6) << row.image;
    EXPECT_NEAR(row.values[1] + row.values[2], 1.0, 1e-6);
    EXPECT_EQ(row.cls, want[1] > want[0] ? "dog" : "cat");
    EXPECT_DOUBLE_EQ(row.values[0], std::max(row.values[1], row.values[2]));
  }
  // The command line: failures listed, exit status 1.
  test::CliResult cli = test::run_useg("classify --model " + model.string() + " --input " +
                                       (d / "in" / "b").string() + " --output " +
                                       (d / "b.csv").string());
  EXPECT_EQ(cli.status, 1) << cli.output;
  EXPECT_NE(cli.output.find("classify: 2 done, 0 skipped, 1 failed"), std::string::npos)
      << cli.output;
}

TEST(Classify, ResumesKeepsRowsAndRefusesAnotherModelsFile) {
  const fs::path model = make_classifier("classify_resume_model");
  const fs::path d = test::fresh_dir("classify_resume");
  for (int i = 0; i < 4; ++i) write_png(d / "in" / (std::to_string(i) + ".png"), 16, 1, 20 + i);
  ClassifyOptions o;
  o.models = {model.string()};
  o.inputs = {(d / "in").string()};
  o.output = (d / "pred.csv").string();
  EXPECT_EQ(run_classify(o).done, 4);
  const std::string full = read_file(o.output);
  // Drop the last row: only that image is classified again, the others are kept as they were.
  std::string cut = full.substr(0, full.rfind('\n', full.size() - 2) + 1);
  write_file_atomic(o.output, cut);
  ClassifyResult r = run_classify(o);
  EXPECT_EQ(r.done, 1);
  EXPECT_EQ(r.skipped, 3);
  EXPECT_EQ(read_file(o.output), full);
  r = run_classify(o);
  EXPECT_EQ(r.done, 0);
  EXPECT_EQ(r.skipped, 4);
  o.overwrite = true;
  EXPECT_EQ(run_classify(o).done, 4);
  EXPECT_EQ(read_file(o.output), full);
  o.overwrite = false;
  write_file_atomic(o.output, "image,class,probability,p_a,p_b\n");
  test::expect_error([&] { run_classify(o); },
                     "pred.csv exists with the header 'image,class,probability,p_a,p_b', but this "
                     "model writes 'image,class,probability,p_cat,p_dog'");
  o.inputs = {(d / "nothing").string()};
  test::expect_error([&] { run_classify(o); }, "--input " + (d / "nothing").string() +
                                                   " does not exist");
}

// ---------------------------------------------------------------------------- objects

TEST(ClassifyObjects, CropKeepsGeometryAndPadsWithTheMinimum) {
  Geometry g = test::oblique_geometry_2d();
  g.size = {12, 10, 1};
  Image im;
  im.geometry = g;
  im.voxels = Tensor::empty(Shape{1, 1, 1, 10, 12});
  for (int64_t i = 0; i < im.voxels.numel(); ++i) im.voxels.data()[i] = float(i + 5);
  // Box x 9..11, y 1..2: side 3 * 2 = 6, centred (x 10, y 1.5): x 7..12, y -1..4.
  Image c = object_crop(im, {9, 1, 0}, {11, 2, 0}, 2.0, 4);
  EXPECT_EQ(c.geometry.size, (std::array<int64_t, 3>{6, 6, 1}));
  EXPECT_EQ(c.voxels.at(0, 0, 0, 1, 0), im.voxels.at(0, 0, 0, 0, 7));
  EXPECT_EQ(c.voxels.at(0, 0, 0, 3, 2), im.voxels.at(0, 0, 0, 2, 9));
  EXPECT_EQ(c.voxels.at(0, 0, 0, 0, 0), 5.f) << "outside the image: the minimum";
  EXPECT_EQ(c.voxels.at(0, 0, 0, 2, 5), 5.f) << "x 12 is outside";
  // The crop's voxel (0, 0) is the image's voxel (7, -1) in physical space.
  for (int r = 0; r < 3; ++r) {
    double want = g.origin[r];
    want += g.direction[3 * r + 0] * g.spacing[0] * 7 + g.direction[3 * r + 1] * g.spacing[1] * -1;
    EXPECT_NEAR(c.geometry.origin[r], want, 1e-9);
  }
  EXPECT_EQ(c.geometry.spacing, g.spacing);
  EXPECT_EQ(c.geometry.direction, g.direction);
}

TEST(ClassifyObjects, ClassesJoinTheMeasurementsByObjectId) {
  const fs::path model = make_classifier("classify_objects_model");
  const fs::path d = test::fresh_dir("classify_objects");
  Geometry g;
  g.dims = 2;
  g.size = {40, 30, 1};
  Tensor image = Tensor::empty(Shape{1, 1, 1, 30, 40}), inst = Tensor::zeros(Shape{1, 1, 1, 30, 40});
  std::mt19937 rng(3);
  for (int64_t i = 0; i < image.numel(); ++i) image.data()[i] = float(rng() % 200);
  for (int y = 3; y < 9; ++y)
    for (int x = 4; x < 12; ++x) inst.at(0, 0, 0, y, x) = 1;
  for (int y = 15; y < 27; ++y)
    for (int x = 25; x < 37; ++x) inst.at(0, 0, 0, y, x) = 3;  // id 2 absent
  write_image((d / "img.nii.gz").string(), image, g, "float");
  fs::create_directories(d / "seg");
  write_image((d / "seg" / "img_instances.nii.gz").string(), inst, g, "uint16");
  std::vector<ObjectMeasure> m = measure_objects(inst, {1, 1, 1}, g, image);
  write_file_atomic((d / "seg" / "img_measurements.csv").string(),
                    measurements_csv("img", m, g, {"background", "cell"}));

  Classifier clf(model.string(), Device::CPU, {});
  Image im = read_image((d / "img.nii.gz").string());
  std::vector<ObjectClass> oc = classify_objects(clf, im, inst, 1.5, 8);
  ASSERT_EQ(oc.size(), 3u);
  EXPECT_EQ(oc[1].cls, -1) << "id 2 has no voxel";
  // Object 3's class is the classifier's on the crop of its box (x 25..36, y 15..26).
  std::vector<double> want =
      clf.probabilities({classifier_input(object_crop(im, {25, 15, 0}, {36, 26, 0}, 1.5, 4),
                                          clf.info())},
                        1)[0];
  EXPECT_NEAR(oc[2].probability[1], want[1], 1e-6);

  test::CliResult cli = test::run_useg("classify --model " + model.string() + " --input " +
                                       (d / "img.nii.gz").string() + " --objects " +
                                       (d / "seg").string());
  ASSERT_EQ(cli.status, 0) << cli.output;
  const std::string csv = read_file((d / "seg" / "img_measurements.csv").string());
  std::istringstream in(csv);
  std::string line;
  std::getline(in, line);
  std::vector<std::string> head = csv_split(line);
  ASSERT_GE(head.size(), 2u);
  EXPECT_EQ(head[head.size() - 2], "object_class");
  EXPECT_EQ(head.back(), "object_class_probability");
  int rows = 0;
  while (std::getline(in, line)) {
    std::vector<std::string> f = csv_split(line);
    ASSERT_EQ(f.size(), head.size());
    const ObjectClass& o = oc[size_t(std::stoi(f[1]) - 1)];
    EXPECT_EQ(f[f.size() - 2], clf.classes()[size_t(o.cls)]);
    EXPECT_NEAR(std::stod(f.back()), o.probability[size_t(o.cls)], 1e-6);
    ++rows;
  }
  EXPECT_EQ(rows, 2);
  // Twice: the columns are replaced, not added again.
  cli = test::run_useg("classify --model " + model.string() + " --input " +
                       (d / "img.nii.gz").string() + " --objects " + (d / "seg").string());
  EXPECT_EQ(read_file((d / "seg" / "img_measurements.csv").string()), csv);
  // A case without an instance image fails, naming what is missing.
  write_image((d / "other.nii.gz").string(), image, g, "float");
  cli = test::run_useg("classify --model " + model.string() + " --input " +
                       (d / "other.nii.gz").string() + " --objects " + (d / "seg").string());
  EXPECT_EQ(cli.status, 1);
  EXPECT_NE(cli.output.find("no other_instances.<ext> in"), std::string::npos) << cli.output;
}

// useg segment --classify-objects: the shipped nuclei model finds bright discs, each object's row
// of the measurements gets the classifier's class and probability.
TEST(ClassifyObjects, SegmentClassifiesTheObjectsItFinds) {
  const fs::path model = make_classifier("segment_objects_model");
  const fs::path d = test::fresh_dir("segment_objects");
  Tensor t = Tensor::empty(Shape{1, 1, 1, 64, 64});
  const int cx[3] = {14, 44, 30}, cy[3] = {14, 20, 48};
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 64; ++x) {
      float v = 10.f;
      for (int k = 0; k < 3; ++k)
        if ((x - cx[k]) * (x - cx[k]) + (y - cy[k]) * (y - cy[k]) <= 36) v = 200.f;
      t.at(0, 0, 0, y, x) = v;
    }
  Geometry g;
  g.dims = 2;
  g.size = {64, 64, 1};
  write_image((d / "discs.png").string(), t, g, "uint8");
  test::CliResult c = test::run_useg(
      std::string("segment --model ") + USEG_SOURCE_DIR + "/models/nuclei2d --input " +
      (d / "discs.png").string() + " --output " + (d / "seg").string() + " --instances " +
      "--classify-objects " + model.string());
  ASSERT_EQ(c.status, 0) << c.output;
  std::ifstream in((d / "seg" / "discs_measurements.csv").string());
  std::string line;
  std::getline(in, line);
  std::vector<std::string> head = csv_split(line);
  ASSERT_GE(head.size(), 2u);
  EXPECT_EQ(head[head.size() - 2], "object_class");
  int rows = 0;
  while (std::getline(in, line)) {
    std::vector<std::string> f = csv_split(line);
    EXPECT_TRUE(f[f.size() - 2] == "cat" || f[f.size() - 2] == "dog") << line;
    const double p = std::stod(f.back());
    EXPECT_TRUE(p >= 0.5 && p <= 1.0) << line;
    ++rows;
  }
  EXPECT_GE(rows, 3) << "three discs (the model may split one)";
  EXPECT_NE(c.output.find("classify objects: " + std::to_string(rows) + " object(s) classified"),
            std::string::npos)
      << "every row of the measurements is classified: " << c.output;
}

// ---------------------------------------------------------------------------- eval CLI

TEST(ClassEval, CommandLineScoresUsegClassifyOutput) {
  const fs::path model = make_classifier("class_eval_model");
  const fs::path d = test::fresh_dir("class_eval_cli");
  for (int i = 0; i < 6; ++i)
    write_png(d / "ref" / (i % 2 ? "dog" : "cat") / (std::to_string(i) + ".png"), 16, 1, 40 + i);
  test::CliResult c = test::run_useg("classify --model " + model.string() + " --input " +
                                     (d / "ref").string() + " --recursive --output " +
                                     (d / "pred.csv").string());
  ASSERT_EQ(c.status, 0) << c.output;
  int correct = 0;
  for (const Row& r : read_rows(d / "pred.csv"))
    correct += r.cls == fs::path(r.image).parent_path().filename().string();
  c = test::run_useg("eval --classification --pred " + (d / "pred.csv").string() + " --ref " +
                     (d / "ref").string() + " --json " + (d / "m.json").string() + " --output " +
                     (d / "m.csv").string());
  ASSERT_EQ(c.status, 0) << c.output;
  const std::string json = read_file((d / "m.json").string());
  EXPECT_NE(json.find("\"accuracy\": " + csv_number(correct / 6.0)), std::string::npos)
      << json << " (" << correct << " correct)";
  EXPECT_NE(c.output.find("confusion (rows: reference, columns: predicted)"), std::string::npos);
  // A reference image without a prediction: listed, exit status 1.
  write_png(d / "ref" / "dog" / "new.png", 16, 1, 99);
  c = test::run_useg("eval --classification --pred " + (d / "pred.csv").string() + " --ref " +
                     (d / "ref").string());
  EXPECT_EQ(c.status, 1);
  EXPECT_NE(c.output.find("1 reference image(s) have no prediction: " +
                          (d / "ref" / "dog" / "new.png").string()),
            std::string::npos)
      << c.output;
}

}  // namespace
}  // namespace useg
