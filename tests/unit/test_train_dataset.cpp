// Dataset checks before training: one test per message a user acts on, each naming the case.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/expect_error.h"
#include "common/image_fixtures.h"
#include "common/train_fixtures.h"
#include "train/data.h"
#include "train/dataset.h"
#include "useg/error.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

// A small valid dataset of 4 cases, 16x16.
fs::path small_dataset(const std::string& name, int label_value = 1) {
  fs::path d = test::fresh_dir("train_ds_" + name);
  test::BlobDataset b;
  b.cases = 4;
  b.size = 16;
  b.radius_min = 3;
  b.radius_max = 4;
  b.label_value = label_value;
  test::write_blob_dataset(d, b);
  return d;
}

Geometry geometry16(double spacing = 1.0) {
  Geometry g;
  g.dims = 2;
  g.size = {16, 16, 1};
  g.spacing = {spacing, spacing, 1};
  return g;
}

TEST(TrainDataset, ScansAValidDataset) {
  fs::path d = small_dataset("valid");
  Dataset ds = scan_dataset(d.string());
  ASSERT_EQ(ds.cases.size(), 4u);
  EXPECT_EQ(ds.cases[0].name, "blob_000");
  EXPECT_EQ(ds.channels(), 1);
  EXPECT_EQ(ds.class_names(), (std::vector<std::string>{"background", "blob"}));
  EXPECT_FALSE(ds.remapped());
  EXPECT_EQ(ds.cases[2].label, (d / "labelsTr" / "blob_002.nii.gz").string());
  EXPECT_EQ(ds.cases[2].geometry.size[0], 16);
}

TEST(TrainDataset, MissingLabel) {
  fs::path d = small_dataset("missing_label");
  fs::remove(d / "labelsTr" / "blob_001.nii.gz");
  test::expect_error([&] { scan_dataset(d.string()); },
                     "case blob_001: missing label labelsTr/blob_001.nii.gz");
}

TEST(TrainDataset, ImageLabelSizeMismatch) {
  fs::path d = small_dataset("size");
  Geometry g = geometry16();
  g.size = {12, 16, 1};
  write_image((d / "labelsTr" / "blob_002.nii.gz").string(), Tensor::zeros(Shape{1, 1, 1, 16, 12}),
              g, "uint8");
  test::expect_error([&] { scan_dataset(d.string()); },
                     "case blob_002: image and label sizes differ (image 16x16x1, label 12x16x1)");
}

TEST(TrainDataset, ImageLabelGeometryMismatch) {
  fs::path d = small_dataset("geometry");
  write_image((d / "labelsTr" / "blob_003.nii.gz").string(), Tensor::zeros(Shape{1, 1, 1, 16, 16}),
              geometry16(0.5), "uint8");
  test::expect_error([&] { scan_dataset(d.string()); },
                     "case blob_003: image and label geometry differ (image vs label: spacing");
}

TEST(TrainDataset, UndeclaredLabelValuesAreListed) {
  fs::path d = small_dataset("undeclared");
  Tensor lab = Tensor::zeros(Shape{1, 1, 1, 16, 16});
  lab.at(0, 0, 0, 3, 3) = 3;
  lab.at(0, 0, 0, 4, 4) = 3;
  lab.at(0, 0, 0, 5, 5) = 7;
  write_image((d / "labelsTr" / "blob_001.nii.gz").string(), lab, geometry16(), "uint8");
  Dataset ds = scan_dataset(d.string());  // headers are fine
  ModelInfo info;
  info.preprocess.channels.resize(1);
  test::expect_error(
      [&] { training::load_cases(ds, info, {"blob_000", "blob_001"}, 1, {}); },
      "case blob_001: label values not declared in dataset.json: 3 (2 voxels), 7 (1 voxels); "
      "declared: background=0, blob=1");
}

TEST(TrainDataset, WrongChannelCount) {
  fs::path d = small_dataset("channels");
  test::write_text(d / "dataset.json",
                   "{\"channel_names\": {\"0\": \"T1\", \"1\": \"T2\"}, \"labels\": "
                   "{\"background\": 0, \"blob\": 1}, \"numTraining\": 4, \"file_ending\": "
                   "\".nii.gz\"}");
  test::expect_error([&] { scan_dataset(d.string()); },
                     "case blob_000: 1 channel(s) in 1 file(s), dataset.json declares 2 (T1, T2)");
}

TEST(TrainDataset, ChannelFilesWithAGap) {
  fs::path d = small_dataset("gap");
  fs::copy_file(d / "imagesTr" / "blob_000_0000.nii.gz", d / "imagesTr" / "blob_000_0002.nii.gz");
  test::expect_error([&] { scan_dataset(d.string()); },
                     "case blob_000: channel files _0000, _0002 do not run _0000, _0001, ...");
}

TEST(TrainDataset, EmptyDataset) {
  fs::path d = test::fresh_dir("train_ds_empty");
  fs::create_directories(d / "imagesTr");
  fs::create_directories(d / "labelsTr");
  test::write_text(d / "dataset.json", test::dataset_json(0, "MR", 1));
  test::expect_error([&] { scan_dataset(d.string()); },
                     "is empty: no training cases in imagesTr/");
}

TEST(TrainDataset, NumTrainingMismatchIsAnError) {
  fs::path d = small_dataset("num_training");
  test::write_text(d / "dataset.json", test::dataset_json(5, "MR", 1));
  test::expect_error([&] { scan_dataset(d.string()); },
                     "dataset.json says numTraining 5 but 4 complete case(s) were found");
}

TEST(TrainDataset, OrphanLabelAndMisnamedImage) {
  fs::path d = small_dataset("orphan");
  fs::rename(d / "imagesTr" / "blob_003_0000.nii.gz", d / "imagesTr" / "blob_003.nii.gz");
  try {
    scan_dataset(d.string());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("2 problem(s)"), std::string::npos) << m;
    EXPECT_NE(m.find("imagesTr/blob_003.nii.gz: not named CASE_XXXX.nii.gz"), std::string::npos) << m;
    EXPECT_NE(m.find("labelsTr/blob_003.nii.gz has no images"), std::string::npos) << m;
  }
}

// A NIfTI file holding NaN (niftilib reads it as 0; the reader puts it back) and one holding an
// infinity: the error names each case's file and its count.
TEST(TrainDataset, NonFiniteImageIsRejectedAtLoad) {
  fs::path d = test::fresh_dir("train_ds_nan");
  fs::create_directories(d / "imagesTr");
  fs::create_directories(d / "labelsTr");
  test::write_text(d / "dataset.json", test::dataset_json(3, "MR", 1, ".nii.gz"));
  for (int k = 1; k <= 3; ++k) {
    std::string name = "blob_00" + std::to_string(k);
    Tensor img = Tensor::full(Shape{1, 1, 1, 16, 16}, 1.f);
    if (k == 2) {
      img.at(0, 0, 0, 2, 2) = std::nanf("");
      img.at(0, 0, 0, 5, 9) = std::nanf("");
      img.at(0, 0, 0, 7, 1) = std::nanf("");
    }
    if (k == 3) img.at(0, 0, 0, 0, 0) = INFINITY;
    write_image((d / "imagesTr" / (name + "_0000.nii.gz")).string(), img, geometry16(), "float");
    write_image((d / "labelsTr" / (name + ".nii.gz")).string(),
                Tensor::zeros(Shape{1, 1, 1, 16, 16}), geometry16(), "uint8");
  }
  Dataset ds = scan_dataset(d.string());
  ModelInfo info;
  info.preprocess.channels.resize(1);
  try {
    training::load_cases(ds, info, {"blob_001", "blob_002", "blob_003"}, 1, {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("2 problem(s)"), std::string::npos) << m;
    EXPECT_NE(m.find("case blob_002: imagesTr/blob_002_0000.nii.gz has 3 NaN or infinite voxels"),
              std::string::npos) << m;
    EXPECT_NE(m.find("case blob_003: imagesTr/blob_003_0000.nii.gz has 1 NaN or infinite voxel "),
              std::string::npos) << m;
    EXPECT_EQ(m.find("blob_001"), std::string::npos) << m;
  }
}

TEST(TrainDataset, NonContiguousLabelValuesAreRemapped) {
  fs::path d = small_dataset("remap", 5);
  Dataset ds = scan_dataset(d.string());
  EXPECT_TRUE(ds.remapped());
  EXPECT_EQ(ds.class_values(), (std::vector<int>{0, 5}));
  RunConfig run = test::tiny_run(2);
  ModelInfo info = training::plan_model_info(run, ds, 1, [](const std::string&) {});
  EXPECT_EQ(info.provenance.at("label_values"), "0,5");
  EXPECT_EQ(info.labels, (std::vector<std::string>{"background", "blob"}));
  auto cases = training::load_cases(ds, info, {"blob_000"}, 1, {});
  int ones = 0;
  for (uint8_t v : cases[0].label) {
    EXPECT_LE(v, 1);
    ones += v;
  }
  EXPECT_GT(ones, 10);
  EXPECT_EQ(cases[0].class_voxels[1].size(), size_t(ones));
}

TEST(TrainDataset, ConfigMustMatchTheDataset) {
  fs::path d = small_dataset("config_mismatch");
  Dataset ds = scan_dataset(d.string());
  RunConfig run = test::tiny_run(2);
  run.model.num_classes = 3;
  test::expect_error([&] { training::plan_model_info(run, ds, 1, [](const std::string&) {}); },
                     "the config has model.num_classes 3 but dataset.json declares 2 labels");
  run = test::tiny_run(3);
  test::expect_error([&] { training::plan_model_info(run, ds, 1, [](const std::string&) {}); },
                     "the model is 3D but case blob_000 is a 2D image");
}

// ------------------------------------------------------------------- dataset.json itself
TEST(TrainDatasetJson, Malformed) {
  test::expect_error([] { parse_dataset_json("{\"labels\": {\n  \"a\": 0,\n  oops}", "ds.json"); },
                     "ds.json:3:3: JSON syntax error");
  test::expect_error(
      [] { parse_dataset_json("{\"labels\": {\"background\": 0, \"x\": 1}}", "ds.json"); },
      "ds.json: missing required key 'channel_names'");
  const std::string base = "\"channel_names\": {\"0\": \"CT\"}, \"numTraining\": 1, "
                           "\"file_ending\": \".nii.gz\"";
  test::expect_error(
      [&] { parse_dataset_json("{" + base + ", \"labels\": {\"0\": \"background\", \"1\": \"x\"}}", "d"); },
      "d: labels: maps values to names");
  test::expect_error(
      [&] { parse_dataset_json("{" + base + ", \"labels\": {\"background\": 0, \"x\": [1, 2]}}", "d"); },
      "d: labels.x: is a list of values (a region-based label)");
  test::expect_error(
      [&] { parse_dataset_json("{" + base + ", \"labels\": {\"a\": 1, \"b\": 2}}", "d"); },
      "d: labels: no label has value 0 (background)");
  test::expect_error(
      [&] { parse_dataset_json("{" + base + ", \"labels\": {\"background\": 0, \"x\": \"1\"}}", "d"); },
      "d: labels.x: expected an integer label value, got string \"1\"");
  test::expect_error(
      [&] { parse_dataset_json("{" + base + ", \"labels\": {\"background\": 0, \"x\": 0}}", "d"); },
      "d: labels.x: label value 0 is used by two labels");
  test::expect_error(
      [] {
        parse_dataset_json("{\"channel_names\": {\"0\": \"CT\", \"2\": \"PET\"}, \"labels\": "
                           "{\"background\": 0, \"x\": 1}, \"numTraining\": 1, "
                           "\"file_ending\": \".nii.gz\"}", "d");
      },
      "d: channel_names: channel indices must be 0..1 without gaps");
  test::expect_error(
      [] {
        parse_dataset_json("{\"channel_names\": {\"0\": \"CT\"}, \"labels\": {\"background\": 0, "
                           "\"x\": 1}, \"numTraining\": 1, \"file_ending\": \"nii.gz\"}", "d");
      },
      "d: file_ending: expected an extension starting with '.'");
}

TEST(TrainDatasetJson, InstancesFlag) {
  const std::string base = "\"channel_names\": {\"0\": \"DAPI\"}, \"numTraining\": 1, "
                           "\"file_ending\": \".png\"";
  DatasetJson d = parse_dataset_json(
      "{" + base + ", \"labels\": {\"background\": 0, \"nucleus\": 1}, \"instances\": true}", "d");
  EXPECT_TRUE(d.instances);
  EXPECT_FALSE(parse_dataset_json("{" + base + ", \"labels\": {\"background\": 0, \"x\": 1}}", "d")
                   .instances);
  test::expect_error(
      [&] {
        parse_dataset_json("{" + base + ", \"labels\": {\"background\": 0, \"x\": 1}, "
                           "\"instances\": \"yes\"}", "d");
      },
      "d: instances: expected true or false, got string \"yes\"");
  test::expect_error(
      [&] {
        parse_dataset_json("{" + base + ", \"labels\": {\"background\": 0, \"a\": 1, \"b\": 2}, "
                           "\"instances\": true}", "d");
      },
      "d: labels: an instance dataset (\"instances\": true) names background and the objects");
  Dataset ds;
  ds.meta = d;
  EXPECT_EQ(ds.classes(), 3);
  EXPECT_EQ(ds.class_names(),
            (std::vector<std::string>{"background", "nucleus_interior", "nucleus_boundary"}));
  EXPECT_FALSE(ds.remapped());
}

TEST(TrainDatasetJson, ReadsNnUNetV2AndIgnoresExtraKeys) {
  DatasetJson d = parse_dataset_json(
      "{\"name\": \"Liver\", \"licence\": \"CC\", \"channel_names\": {\"1\": \"T2\", \"0\": \"CT\"},"
      " \"labels\": {\"tumour\": 2, \"background\": 0, \"liver\": 1}, \"numTraining\": 131,"
      " \"file_ending\": \".nrrd\", \"overwrite_image_reader_writer\": \"SimpleITKIO\"}", "d");
  EXPECT_EQ(d.channel_names, (std::vector<std::string>{"CT", "T2"}));
  ASSERT_EQ(d.labels.size(), 3u);
  EXPECT_EQ(d.labels[0], (std::pair<std::string, int>{"background", 0}));
  EXPECT_EQ(d.labels[2], (std::pair<std::string, int>{"tumour", 2}));
  EXPECT_EQ(d.num_training, 131);
  EXPECT_EQ(d.file_ending, ".nrrd");
}

TEST(TrainDatasetJson, MissingDatasetJson) {
  fs::path d = test::fresh_dir("train_ds_nojson");
  test::expect_error([&] { scan_dataset(d.string()); }, "has no dataset.json");
  test::expect_error([&] { scan_dataset((d / "nope").string()); }, "does not exist");
}

}  // namespace
}  // namespace useg
