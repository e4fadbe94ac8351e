// Instance datasets end to end: dataset.json "instances": true with one id per object in
// labelsTr -> `useg train` learns background / interior / boundary and records the instance
// target in model.json -> `useg segment` writes the split objects (instances, the union as
// class 1, measurements named after the objects, a preview in object colours).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>

#include "common/cell_dataset.h"
#include "common/csv.h"
#include "common/expect_error.h"
#include "common/image_fixtures.h"
#include "common/train_fixtures.h"
#include "core/files.h"
#include "segment_test_util.h"
#include "train/checkpoint.h"
#include "train/data.h"
#include "train/dataset.h"
#include "useg/image.h"
#include "useg/metrics.h"
#include "useg/train.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

TEST(TrainInstances, TrainsTheThreeClassTargetAndSegmentSplitsObjects) {
  const fs::path root = test::fresh_dir("train_instances");
  const fs::path data = root / "Dataset002_Cells", out = root / "run";
  test::write_cell_dataset(data, 4, 5);
  TrainOptions o;
  o.data_dir = data.string();
  o.output_dir = out.string();
  o.config = test::cell_run();
  o.tty = 0;
  o.threads = 1;
  const TrainResult r = train(o);
  ASSERT_EQ(r.status, TrainResult::Status::Completed);
  const ModelInfo info = load_model_info((out / "last" / "model.json").string());
  EXPECT_EQ(info.target, "instances");
  EXPECT_EQ(info.instances.object, "cell");
  EXPECT_EQ(info.instances.boundary_width, 2);
  EXPECT_EQ(info.instances.min_size, 4);
  // Touching discs of radius 7..9 (cut where they touch): median equivalent diameter 12..18 px.
  EXPECT_GT(info.instances.diameter, 12);
  EXPECT_LT(info.instances.diameter, 18);
  EXPECT_EQ(info.labels,
            (std::vector<std::string>{"background", "cell_interior", "cell_boundary"}));
  const std::string csv = read_file((out / "metrics.csv").string());
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "epoch,train_loss,dice_cell_interior,dice_cell_boundary,mean_fg_dice,lr,seconds,"
            "skipped_steps");
  EXPECT_GT(r.last_dice, 0.3) << "interior and boundary are learnt at all";

  // The final validation holds best/'s objects of each validation case (what segment --instances
  // writes) and their matching against the reference ids.
  const std::vector<std::string> val =
      training::read_checkpoint((out / "checkpoint.safetensors").string()).val_cases;
  ASSERT_EQ(val.size(), 1u);
  const auto vseg = test::run_useg(
      "segment --model " + test::quote(out / "best") + " --input " +
      test::quote(data / "imagesTr" / (val[0] + "_0000.nii.gz")) + " --output " +
      test::quote(root / "vseg") + " --instances --postprocess none --threads 1");
  ASSERT_EQ(vseg.code, 0) << vseg.output;
  const Image kept = read_image((out / "validation" / (val[0] + ".nii.gz")).string());
  const Image made = read_image((root / "vseg" / (val[0] + "_instances.nii.gz")).string());
  ASSERT_EQ(kept.voxels.numel(), made.voxels.numel());
  for (int64_t i = 0; i < kept.voxels.numel(); ++i)
    ASSERT_EQ(kept.voxels.data()[i], made.voxels.data()[i]) << "voxel " << i;
  const InstanceScores vm = match_instances(
      instance_overlap(kept.voxels,
                       read_image((data / "labelsTr" / (val[0] + ".nii.gz")).string()).voxels),
      0.5);
  const nlohmann::json summary =
      nlohmann::json::parse(read_file((out / "validation" / "summary.json").string()));
  EXPECT_EQ(summary.at("mode"), "instances");
  const nlohmann::json& row = summary.at("cases").at(0).at("rows").at(0);
  EXPECT_EQ(row.at("iou_threshold"), 0.5);
  EXPECT_EQ(row.at("n_ref"), vm.n_ref);
  EXPECT_EQ(row.at("n_pred"), vm.n_pred);
  EXPECT_EQ(row.at("tp"), vm.tp);

  // useg segment with the trained model: labels are the objects' union (class 1), instances the
  // split objects, measurements name the objects.
  const fs::path seg = root / "seg";
  const auto run = test::run_useg("segment --model " + test::quote(out / "last") + " --input " +
                                  test::quote(data / "imagesTr" / "cells_0_0000.nii.gz") +
                                  " --output " + test::quote(seg) +
                                  " --instances --measure --preview --threads 1");
  ASSERT_EQ(run.code, 0) << run.output;
  const Image labels = read_image((seg / "cells_0.nii.gz").string());
  const Image instances = read_image((seg / "cells_0_instances.nii.gz").string());
  std::set<int> ids, classes;
  int64_t disagree = 0;
  for (int64_t i = 0; i < labels.voxels.numel(); ++i) {
    const int l = int(std::lround(labels.voxels.data()[i]));
    const int id = int(std::lround(instances.voxels.data()[i]));
    classes.insert(l);
    if (id) ids.insert(id);
    disagree += (l == 1) != (id > 0);
  }
  EXPECT_EQ(disagree, 0) << "the labels are exactly the union of the objects";
  EXPECT_TRUE(classes.count(1) && !classes.count(2)) << "interior and boundary merge to class 1";
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(*ids.rbegin(), int(ids.size())) << "ids are 1..n";
  // The touching pairs come apart: at least 3 of the 4 cells are found at IoU 0.5 (measured:
  // all 4; connected components of the foreground would find at most the 2 pairs, with IoU
  // about 0.5 each).
  const Image ref = read_image((data / "labelsTr" / "cells_0.nii.gz").string());
  const InstanceScores m = match_instances(instance_overlap(instances.voxels, ref.voxels), 0.5);
  EXPECT_GE(m.tp, 3) << "fp " << m.fp << " fn " << m.fn;
  const auto rows = test::parse_csv(read_file((seg / "cells_0_measurements.csv").string()));
  EXPECT_EQ(rows.size(), ids.size());
  for (const auto& row : rows) EXPECT_EQ(row.at("class_name"), "cell");
  for (const auto& row : rows) EXPECT_GE(std::stod(row.at("voxels")), 4) << "min_size";
  EXPECT_GT(fs::file_size(seg / "cells_0_preview.png"), 0u);
  const auto info_run = test::run_useg("info " + test::quote(out / "last"));
  EXPECT_NE(info_run.output.find("target: instances of cell (classes background / interior / "
                                 "boundary, boundary width 2"),
            std::string::npos)
      << info_run.output;
  std::ostringstream diameter;  // printed as the other settings are (6 significant digits)
  diameter << "; training objects' median diameter " << info.instances.diameter << " mm";
  EXPECT_NE(info_run.output.find(diameter.str()),
            std::string::npos)
      << info_run.output;
}

// Equivalent diameters counted by hand: 2D objects of 4, 9 and 16 pixels at 0.5 mm are 1, 2.25 and
// 4 mm^2 (discs of diameter 2 sqrt(A / pi)); a 3D cube of 8 voxels at 1 mm is a ball of 8 mm^3.
// The dataset's median is over every object of every case (an even count: the two middle
// values' mean), as useg train records it in model.json's instances.diameter.
TEST(TrainInstances, MedianObjectDiameterIsCountedOverEveryObject) {
  const double pi = 3.14159265358979323846;
  auto disc = [&](double area) { return 2 * std::sqrt(area / pi); };
  Geometry g;
  g.dims = 2;
  g.size = {10, 10, 1};
  g.spacing = {0.5, 0.5, 1};
  Tensor a = Tensor::zeros(Shape{1, 1, 1, 10, 10});
  auto fill = [](Tensor& t, float id, int x0, int x1, int y0, int y1) {
    for (int y = y0; y <= y1; ++y)
      for (int x = x0; x <= x1; ++x) t.at(0, 0, 0, y, x) = id;
  };
  fill(a, 1, 0, 1, 0, 1);  // 4 px
  fill(a, 7, 3, 5, 0, 2);  // 9 px (ids need not be consecutive)
  fill(a, 2, 6, 9, 6, 9);  // 16 px
  const std::vector<double> d = object_diameters(a, g);
  ASSERT_EQ(d.size(), 3u);  // by id: 1, 2, 7
  EXPECT_NEAR(d[0], disc(1.0), 1e-12);
  EXPECT_NEAR(d[1], disc(4.0), 1e-12);
  EXPECT_NEAR(d[2], disc(2.25), 1e-12);
  Geometry g3;
  g3.size = {4, 4, 4};
  Tensor cube = Tensor::zeros(Shape{1, 1, 4, 4, 4});
  for (int z = 1; z <= 2; ++z)
    for (int y = 1; y <= 2; ++y)
      for (int x = 1; x <= 2; ++x) cube.at(0, 0, z, y, x) = 3;
  ASSERT_EQ(object_diameters(cube, g3).size(), 1u);
  EXPECT_NEAR(object_diameters(cube, g3)[0], std::cbrt(6 * 8 / pi), 1e-12);

  const fs::path dir = test::fresh_dir("instance_diameter");
  fs::create_directories(dir / "imagesTr");
  fs::create_directories(dir / "labelsTr");
  Tensor b = Tensor::zeros(Shape{1, 1, 1, 10, 10});
  fill(b, 5, 8, 8, 0, 0);  // 1 px = 0.25 mm^2
  for (const auto& [name, lab] : {std::pair<std::string, Tensor>{"c0", a}, {"c1", b}}) {
    write_image((dir / "imagesTr" / (name + "_0000.nii.gz")).string(), lab, g, "float");
    write_image((dir / "labelsTr" / (name + ".nii.gz")).string(), lab, g, "uint16");
  }
  test::write_text(dir / "dataset.json",
                   "{\"channel_names\": {\"0\": \"MR\"}, \"labels\": {\"background\": 0, "
                   "\"cell\": 1}, \"numTraining\": 2, \"file_ending\": \".nii.gz\", "
                   "\"instances\": true}");
  // Four objects: 0.25, 1, 2.25, 4 mm^2 -> the median is the mean of the 1 and 2.25 mm^2 ones.
  EXPECT_NEAR(training::median_object_diameter(scan_dataset(dir.string())),
              0.5 * (disc(1.0) + disc(2.25)), 1e-12);
}

TEST(TrainInstances, LabelsMustBeIdsAndTheModelThreeClasses) {
  const fs::path root = test::fresh_dir("train_instances_errors");
  const fs::path data = root / "Dataset003_Cells";
  test::write_cell_dataset(data, 2, 9);
  TrainOptions o;
  o.data_dir = data.string();
  o.output_dir = (root / "run2").string();
  o.config = test::cell_run();
  o.config->model.num_classes = 2;
  o.tty = 0;
  o.threads = 1;
  test::expect_error([&] { train(o); },
                     "dataset.json declares an instance dataset (\"instances\": true), which "
                     "trains 3 classes (background, interior, boundary); set model.num_classes "
                     "to 3");
  // A label that is not an id (a fractional value) fails loading, naming the case.
  Image lab = read_image((data / "labelsTr" / "cells_1.nii.gz").string());
  lab.voxels.data()[70] = 1.5f;
  write_image((data / "labelsTr" / "cells_1.nii.gz").string(), lab.voxels, lab.geometry, "float");
  o.config->model.num_classes = 3;
  o.output_dir = (root / "run3").string();
  test::expect_error([&] { train(o); },
                     "case cells_1: 1 label voxel(s) are not object ids (integers 0 .. 2^24 - 1 "
                     "in an instance dataset), the first at voxel 70: 1.5");
}

}  // namespace
}  // namespace useg
