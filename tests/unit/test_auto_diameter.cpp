// --diameter auto (segment_estimating_diameter, useg/segment.h) with the
// shipped instance model models/nuclei2d on synthetic nuclei of a known size:
// the choice must be the one the rule gives when every scale is segmented
// separately (a naive reference: each pass through segment_image with
// --diameter, the objects' median diameter by sorting), the result that pass's
// objects, and for nuclei 1.7 times the training size the scale 1.41 d or 2 d.
// The CLI's parsing and refusals are checked through the binary.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <random>

#include "common/test_paths.h"
#include "segment_test_util.h"
#include "useg/backend.h"
#include "useg/config.h"
#include "useg/image.h"
#include "useg/metrics.h"
#include "useg/model.h"
#include "useg/segment.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

// Bright discs of diameter `diameter` px (a little brighter at their centre) on
// a dark, noisy background, 2D.
Image nuclei_image(int size, double diameter, uint64_t seed) {
  Image im;
  im.source = "synthetic nuclei";
  im.geometry.dims = 2;
  im.geometry.size = {size, size, 1};
  im.voxels = Tensor::empty(Shape{1, 1, 1, size, size});
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> noise(0, 0.05);
  const double r = diameter / 2;
  std::vector<std::array<double, 2>> centres;
  for (double y = r + 4; y + r + 4 < size; y += diameter + 6)
    for (double x = r + 4; x + r + 4 < size; x += diameter + 6) centres.push_back({y, x});
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      double v = 0.1;
      for (const auto& c : centres) {
        const double d = std::hypot(y - c[0], x - c[1]) / r;
        if (d <= 1) v = 0.8 + 0.2 * (1 - d * d);
      }
      im.voxels.at(0, 0, 0, y, x) = float(v + noise(gen));
    }
  return im;
}

double naive_median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

TEST(AutoDiameter, ChoosesTheFirstScaleWhoseObjectsAreAsLargeAsAsked) {
  auto backend = make_backend(Device::CPU, BackendOptions{});
  LoadedModel m = load_model_dir(std::string(USEG_SOURCE_DIR) + "/models/nuclei2d", *backend);
  const double d = m.info.instances.diameter;
  ASSERT_GT(d, 15);
  const Image image = nuclei_image(160, 1.7 * d, 3);

  SegmentOptions opts;
  opts.tta = false;
  opts.auto_diameter = true;
  const Segmentation got = segment_image(image, m.info, *m.net, opts);

  // The reference: every scale from the largest down, the first whose ratio
  // reaches 0.85, else the highest ratio.
  SegmentOptions fixed;
  fixed.tta = false;
  int expect_passes = 0;
  double expect = 0, best_ratio = -1;
  Tensor expect_instances;
  for (int k = 3; k >= -2; --k) {
    fixed.diameter = k == 0 ? d : d * std::pow(2.0, k / 2.0);
    Segmentation s = segment_image(image, m.info, *m.net, fixed);
    const std::vector<double> found = object_diameters(s.instances, image.geometry);
    const double ratio = found.empty() ? 0 : naive_median(found) / fixed.diameter;
    std::cout << "    diameter " << fixed.diameter << ": " << found.size()
              << " objects, median / diameter " << ratio << "\n";
    ++expect_passes;
    if (ratio > best_ratio) {
      best_ratio = ratio;
      expect = fixed.diameter;
      expect_instances = s.instances;
    }
    if (ratio >= kAutoDiameterAccept) break;
  }
  EXPECT_DOUBLE_EQ(got.diameter, expect);
  EXPECT_EQ(got.diameter_passes, expect_passes);
  ASSERT_EQ(got.instances.to_vector(), expect_instances.to_vector()) << "the chosen pass itself";
  EXPECT_TRUE(std::abs(got.diameter - std::sqrt(2.0) * d) < 1e-9 ||
              std::abs(got.diameter - 2 * d) < 1e-9)
      << "nuclei of 1.7 d: " << got.diameter;
}

TEST(AutoDiameter, TheCommandLineTakesAutoOrAPositiveNumber) {
  const fs::path root = test::fresh_dir("auto_diameter_cli");
  const std::string m = test::make_model(root / "model", test::ModelSpec{});  // a class model
  Geometry g = test::oblique_geometry_3d();
  g.size = {20, 18, 12};
  fs::create_directories(root / "in");
  write_image((root / "in" / "ct.nii.gz").string(), test::pattern_volume(g), g, "float");
  const std::string in = " --model " + test::quote(m) + " --input " + test::quote(root / "in") +
                         " --output " + test::quote(root / "out");
  auto r = test::run_useg("segment" + in + " --diameter auto");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--diameter needs an instance model"), std::string::npos) << r.output;
  for (const char* bad : {"abc", "0", "-3", "12mm", "nan"}) {
    r = test::run_useg("segment" + in + " --diameter " + bad);
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("--diameter " + std::string(bad) +
                            ": expected a positive number of mm, or auto"),
              std::string::npos)
        << r.output;
  }
  EXPECT_FALSE(fs::exists(root / "out" / "ct.nii.gz"));

  // On the shipped instance model: the report says auto and each case's choice.
  fs::create_directories(root / "nuclei");
  const Image im = nuclei_image(96, 23.5, 5);
  write_image((root / "nuclei" / "n.tif").string(), im.voxels, im.geometry, "float");
  r = test::run_useg("segment --model " + std::string(USEG_SOURCE_DIR) +
                     "/models/nuclei2d --input " + test::quote(root / "nuclei") + " --output " +
                     test::quote(root / "seg") + " --diameter auto --threads 1");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("n: objects' diameter "), std::string::npos) << r.output;
  const auto report = test::read_report(root / "seg" / "report.json");
  EXPECT_EQ(report.at("diameter"), "auto");
  EXPECT_GT(report.at("cases").at(0).at("diameter").get<double>(), 0);

  // --max-memory assumes the finest grid auto may try (0.5 d: 4 times the pixels): a limit the
  // model's own scale fits under but that grid does not refuses the case, naming the file.
  const ModelInfo info =
      load_model_info(std::string(USEG_SOURCE_DIR) + "/models/nuclei2d/model.json");
  SegmentOptions at_d, finest;
  finest.diameter = info.instances.diameter * kAutoDiameterSmallest;
  const auto need = [&](const SegmentOptions& o) {
    const ModelInfo ci = case_model_info(info, im.geometry, o);
    return estimate_case_memory(im.geometry, network_grid(im.geometry, ci), 1, ci, o).total();
  };
  const int64_t between = (need(at_d) + need(finest)) / 2;
  ASSERT_LT(need(at_d), between);
  const std::string limit = " --max-memory " + std::to_string(between) + " --threads 1";
  r = test::run_useg("segment --model " + std::string(USEG_SOURCE_DIR) +
                     "/models/nuclei2d --input " + test::quote(root / "nuclei") + " --output " +
                     test::quote(root / "seg_mem") + limit);
  EXPECT_EQ(r.code, 0) << r.output;
  r = test::run_useg("segment --model " + std::string(USEG_SOURCE_DIR) +
                     "/models/nuclei2d --input " + test::quote(root / "nuclei") + " --output " +
                     test::quote(root / "seg_mem_auto") + " --diameter auto" + limit);
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("n.tif: segmenting"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("more than --max-memory"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace useg
