// Configuration ensembles in one `useg segment` (nnU-Net's ensemble of a 2D and a 3D U-Net):
// models that cannot share a sliding window are grouped into configurations, each predicted on
// its own grid and resampled back onto the input grid, and the configurations' probabilities are
// averaged there with equal weights. References: the separate single-model runs' saved
// probabilities (their mean, to 1e-5), `useg ensemble` of those runs, and for an instance model
// the split of the mean done by hand with the first model's settings.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "common/test_paths.h"
#include "segment_test_util.h"
#include "useg/backend.h"
#include "useg/image.h"
#include "useg/infer.h"
#include "useg/labels.h"
#include "useg/metrics.h"
#include "useg/model.h"
#include "useg/segment.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

using test::max_abs_diff;
using test::quote;
using test::run_useg;

ModelInfo spec_info(int dims, std::vector<int> patch, std::vector<double> spacing = {},
                    int classes = 3) {
  ModelInfo m;
  m.model.dims = dims;
  m.model.num_classes = classes;
  m.patch_size = std::move(patch);
  m.preprocess.target_spacing = std::move(spacing);
  return m;
}

// Models join the first configuration they share a window with, in the order given; models whose
// outputs differ are refused naming both folders and the difference.
TEST(SegmentConfigurations, ModelsAreGroupedByTheWindowTheyShare) {
  const std::vector<ModelInfo> infos{spec_info(3, {16, 16, 16}), spec_info(2, {16, 16}),
                                     spec_info(3, {16, 16, 16}),
                                     spec_info(3, {16, 16, 16}, {2, 1, 1}), spec_info(2, {16, 16})};
  const std::vector<std::string> dirs{"a", "b", "c", "d", "e"};
  const std::vector<std::vector<size_t>> expect{{0, 2}, {1, 4}, {3}};
  EXPECT_EQ(group_models(infos, dirs), expect);
  EXPECT_EQ(group_models({infos[0]}, {"a"}), (std::vector<std::vector<size_t>>{{0}}));

  ModelInfo two = spec_info(2, {16, 16}, {}, 2);
  try {
    group_models({infos[0], infos[1], two}, {"a", "b", "f"});
    ADD_FAILURE() << "models with other classes must be refused";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("models a and f cannot be ensembled"), std::string::npos) << m;
    EXPECT_NE(m.find("model.num_classes 3 vs 2"), std::string::npos) << m;
  }
  EXPECT_EQ(output_difference(infos[0], infos[3]), "");
  EXPECT_NE(ensemble_difference(infos[0], infos[3]).find("preprocess.target_spacing"),
            std::string::npos);
  ModelInfo cells = spec_info(2, {16, 16}), nuclei = cells;
  cells.target = nuclei.target = "instances";
  cells.instances.object = "cell";
  nuclei.instances.object = "nucleus";
  EXPECT_EQ(output_difference(cells, nuclei), "instances.object cell vs nucleus");
}

void write_case(const fs::path& p) {
  Geometry g = test::oblique_geometry_3d();  // spacing 0.7 x 1.3 x 2.5 mm
  g.size = {20, 18, 12};
  write_image(p.string(), test::pattern_volume(g), g, "float");
}

std::vector<float> read_voxels(const fs::path& file) {
  return read_image(file.string()).voxels.to_vector();
}

// Through the binary: two 3D models sharing a window (A, A2), a 2D model resampled in plane (B)
// and a 3D model on another patch (C). `--model A --model B --model A2 --model C` gives three
// configurations whose saved probabilities are ((A + A2) / 2 + B + C) / 3 of the separate runs,
// labels their most probable class, equal to `useg ensemble` of the three configurations' runs.
TEST(SegmentConfigurations, CommandAveragesConfigurationsOnTheInputGrid) {
  fs::path root = test::fresh_dir("segment_configurations");
  test::ModelSpec sa, sa2, sb, sc;
  sa.seed = 11;
  sa2.seed = 13;
  sb.dims = 2;
  sb.patch = {16, 16};
  sb.target_spacing = {1.0, 0.9};  // [H, W]: the in-plane grid is resampled
  sb.seed = 12;
  sc.patch = {8, 16, 16};
  sc.seed = 14;
  const std::string a = test::make_model(root / "a", sa), a2 = test::make_model(root / "a2", sa2);
  const std::string b = test::make_model(root / "b", sb), c = test::make_model(root / "c", sc);
  fs::create_directories(root / "in");
  write_case(root / "in" / "ct.nii.gz");
  const std::string in = " --input " + quote(root / "in") + " --save-probabilities --threads 1";
  std::string log;
  for (const auto& [out, models] : std::vector<std::pair<std::string, std::string>>{
           {"AA2", " --model " + quote(a) + " --model " + quote(a2)},
           {"B", " --model " + quote(b)},
           {"C", " --model " + quote(c)},
           {"ens", " --model " + quote(a) + " --model " + quote(b) + " --model " + quote(a2) +
                       " --model " + quote(c)}}) {
    auto r = run_useg("segment" + models + in + " --output " + quote(root / out));
    ASSERT_EQ(r.code, 0) << out << ": " << r.output;
    log = r.output;
  }
  EXPECT_NE(log.find("ensemble of 4 models in 3 configurations"), std::string::npos) << log;
  std::vector<std::vector<float>> mean;
  for (int k = 0; k < 3; ++k) {
    const std::string f = "ct_prob_" + std::to_string(k) + ".nii.gz";
    const std::vector<float> pa = read_voxels(root / "AA2" / f), pb = read_voxels(root / "B" / f),
                             pc = read_voxels(root / "C" / f);
    mean.emplace_back(pa.size());
    for (size_t i = 0; i < pa.size(); ++i) mean[k][i] = (pa[i] + pb[i] + pc[i]) / 3;
    EXPECT_LE(max_abs_diff(read_voxels(root / "ens" / f), mean[k]), 1e-5f) << "class " << k;
    EXPECT_GT(max_abs_diff(pa, pb), 1e-3f) << "the configurations must differ";
  }
  // The labels: the most probable class of the mean (voxels whose two best classes are within
  // 1e-4 may go either way).
  const std::vector<float> labels = read_voxels(root / "ens" / "ct.nii.gz");
  int64_t checked = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    std::vector<float> p{mean[0][i], mean[1][i], mean[2][i]};
    const int best = int(std::max_element(p.begin(), p.end()) - p.begin());
    std::sort(p.begin(), p.end());
    if (p[2] - p[1] < 1e-4f) continue;
    ++checked;
    ASSERT_EQ(int(labels[i]), best) << "voxel " << i;
  }
  EXPECT_GT(checked, int64_t(labels.size() * 9 / 10));
  // The same as averaging the three runs' files with useg ensemble.
  auto r = run_useg("ensemble --input " + quote(root / "AA2") + " --input " + quote(root / "B") +
                    " --input " + quote(root / "C") + " --output " + quote(root / "files"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_LE(max_abs_diff(read_voxels(root / "files" / "ct.nii.gz"), labels), 0.f);
  // The input's grid, and the report's grouping.
  EXPECT_TRUE(read_image((root / "ens" / "ct.nii.gz").string())
                  .geometry.same_as(read_image((root / "in" / "ct.nii.gz").string()).geometry));
  const auto report = test::read_report(root / "ens" / "report.json");
  ASSERT_TRUE(report.contains("configurations")) << report.dump();
  EXPECT_EQ(report["configurations"].dump(), nlohmann::json({{a, a2}, {b}, {c}}).dump());
  EXPECT_EQ(report["models"].size(), 4u);
  EXPECT_FALSE(test::read_report(root / "AA2" / "report.json").contains("configurations"));
}

// --max-memory counts every configuration: a limit just above the larger configuration's own
// estimate passes each alone and fails the ensemble (the other's weights and the running mean).
TEST(SegmentConfigurations, MaxMemoryCountsEveryConfiguration) {
  fs::path root = test::fresh_dir("segment_configurations_memory");
  test::ModelSpec sb;
  sb.dims = 2;
  sb.patch = {16, 16};
  const std::string a = test::make_model(root / "a", test::ModelSpec{});
  const std::string b = test::make_model(root / "b", sb);
  fs::create_directories(root / "in");
  write_case(root / "in" / "ct.nii.gz");
  const Geometry g = read_image((root / "in" / "ct.nii.gz").string()).geometry;
  int64_t largest = 0;
  for (const std::string& m : {a, b}) {
    const ModelInfo info = load_model_info((fs::path(m) / "model.json").string());
    largest =
        std::max(largest, estimate_case_memory(g, network_grid(g, info), 1, info, {}).total());
  }
  const std::string limit = " --max-memory " + std::to_string(largest + 1000);
  for (const std::string& m : {a, b}) {
    auto r = run_useg("segment --model " + quote(m) + " --input " + quote(root / "in") +
                      " --output " + quote(root / "single") + " --overwrite" + limit);
    EXPECT_EQ(r.code, 0) << r.output;
  }
  auto r = run_useg("segment --model " + quote(a) + " --model " + quote(b) + " --input " +
                    quote(root / "in") + " --output " + quote(root / "two") + limit);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("more than --max-memory"), std::string::npos) << r.output;
}

// An instance model (the shipped models/nuclei2d) with a second configuration of it (another
// target spacing and patch, another seed_split): the objects are the split of the two
// configurations' mean probabilities with the first model's instance settings.
TEST(SegmentConfigurations, InstanceModelsSplitTheMeanWithTheFirstModelsSettings) {
  auto backend = make_backend(Device::CPU, BackendOptions{});
  LoadedModel m = load_model_dir(std::string(USEG_SOURCE_DIR) + "/models/nuclei2d", *backend);
  ModelInfo other = m.info;
  other.preprocess.target_spacing = {0.8, 0.8};
  other.patch_size = {96, 96};
  other.instances.seed_split = 4 * m.info.instances.seed_split;
  ASSERT_EQ(output_difference(m.info, other), "");
  ASSERT_NE(ensemble_difference(m.info, other), "");
  const Image image = test::disc_image(120, m.info.instances.diameter);
  SegmentOptions opts;
  opts.tta = false;
  opts.save_probabilities = true;
  const std::vector<Network*> nets{m.net.get()};
  const Segmentation got =
      segment_image(image, std::vector<ModelGroup>{{m.info, nets}, {other, nets}}, opts);

  const Tensor pa = segment_image(image, m.info, *m.net, opts).probabilities;
  const Tensor pb = segment_image(image, other, *m.net, opts).probabilities;
  Tensor mean = Tensor::zeros(pa.shape());
  for (int64_t i = 0; i < mean.numel(); ++i) mean.data()[i] = (pa.data()[i] + pb.data()[i]) * 0.5f;
  EXPECT_GT(max_abs_diff(pa.to_vector(), pb.to_vector()), 1e-2f);
  EXPECT_EQ(got.probabilities.to_vector(), mean.to_vector());
  const Tensor fg = instance_foreground(mean, image.geometry, m.info, opts, image.source);
  const Tensor expect = split_instances(fg, mean, image.geometry, m.info.instances);
  ASSERT_EQ(got.instances.to_vector(), expect.to_vector());
  float objects = 0;
  for (float v : expect.to_vector()) objects = std::max(objects, v);
  EXPECT_GE(objects, 9.f) << "the discs are found";
  EXPECT_EQ(got.instance_class.size(), size_t(objects));
  EXPECT_EQ(got.network_geometry.size, image.geometry.size) << "the first configuration's grid";
}

// --diameter auto over two configurations: every pass segments with both (each resampled for
// the same objects), and the choice is the rule's (the first pass whose objects' median diameter
// reaches 0.85 of the size asked, else the best ratio) applied to those passes.
TEST(SegmentConfigurations, AutoDiameterPassesUseEveryConfiguration) {
  auto backend = make_backend(Device::CPU, BackendOptions{});
  LoadedModel m = load_model_dir(std::string(USEG_SOURCE_DIR) + "/models/nuclei2d", *backend);
  ModelInfo other = m.info;
  other.patch_size = {96, 96};
  other.preprocess.target_spacing = {0.8, 0.8};
  const double d = m.info.instances.diameter;
  const Image image = test::disc_image(120, 1.5 * d);
  const std::vector<Network*> nets{m.net.get()};
  const std::vector<ModelGroup> groups{{m.info, nets}, {other, nets}};
  SegmentOptions opts;
  opts.tta = false;
  opts.auto_diameter = true;
  const Segmentation got = segment_image(image, groups, opts);

  SegmentOptions fixed = opts;
  fixed.auto_diameter = false;
  double best_ratio = -1, expect = 0;
  int passes = 0;
  Tensor expect_ids;
  for (int k = 3; k >= -2; --k) {
    fixed.diameter = d * std::pow(2.0, k / 2.0);
    const Segmentation s = segment_image(image, groups, fixed);
    ++passes;
    std::vector<double> found = object_diameters(s.instances, image.geometry);
    std::sort(found.begin(), found.end());
    const size_t n = found.size();
    const double median = n == 0  ? 0
                          : n % 2 ? found[n / 2]
                                  : 0.5 * (found[n / 2 - 1] + found[n / 2]);
    const double ratio = median / fixed.diameter;
    if (ratio > best_ratio) best_ratio = ratio, expect = fixed.diameter, expect_ids = s.instances;
    if (ratio >= kAutoDiameterAccept) break;
  }
  EXPECT_DOUBLE_EQ(got.diameter, expect);
  EXPECT_EQ(got.diameter_passes, passes);
  EXPECT_EQ(got.instances.to_vector(), expect_ids.to_vector());
  // Each pass ran both configurations: twice the windows of the first alone.
  SegmentOptions one = fixed;
  one.diameter = expect;
  const Segmentation first = segment_image(image, m.info, *m.net, one);
  const Segmentation both = segment_image(image, groups, one);
  EXPECT_GT(both.windows, first.windows);
}

}  // namespace
}  // namespace useg
