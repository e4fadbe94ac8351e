// `useg segment` keeps the input's geometry: label images come back with exactly the input's
// size, spacing, origin and direction for every format (where the format holds them), for the
// real Colin27 T1 MRI (also when the model resamples), and a 2D model on a 3D volume equals
// segmenting each slice.
#include <gtest/gtest.h>

#include <filesystem>

#include "segment_test_util.h"
#include "useg/backend.h"
#include "useg/image.h"
#include "useg/infer.h"
#include "useg/segment.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

using test::quote;
using test::run_useg;

// 3D: 21x14x9, anisotropic spacing, non-zero origin, oblique direction.
Geometry volume_geometry() {
  Geometry g = test::oblique_geometry_3d();
  g.size = {21, 14, 9};
  return g;
}

void expect_labels_on(const std::string& labels_path, const Geometry& input_geometry,
                      int classes) {
  ASSERT_TRUE(fs::exists(labels_path)) << labels_path;
  Image out = read_image(labels_path);
  EXPECT_EQ(out.geometry.size, input_geometry.size) << labels_path;
  EXPECT_TRUE(out.geometry.same_as(input_geometry))
      << labels_path << "\n" << out.geometry.str() << "\nvs input\n" << input_geometry.str();
  ImageInfo info = read_image_info(labels_path);
  EXPECT_EQ(info.component_type, "uint8") << labels_path;
  for (float v : out.voxels.to_vector()) ASSERT_TRUE(v >= 0 && v < classes) << v;
}

TEST(SegmentGeometry, EveryFormatRoundTrips) {
  fs::path root = test::fresh_dir("segment_formats");
  fs::path in3 = root / "in3d", in2 = root / "in2d", out = root / "out";
  fs::create_directories(in3);
  fs::create_directories(in2);
  test::ModelSpec s3;
  std::string m3 = test::make_model(root / "model3d", s3);
  test::ModelSpec s2;
  s2.dims = 2;
  s2.patch = {16, 16};
  std::string m2 = test::make_model(root / "model2d", s2);

  const Geometry g3 = volume_geometry();
  const std::vector<std::string> full = {".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd"};
  for (const std::string& ext : full)
    write_image((in3 / ("vol" + std::to_string(&ext - &full[0]) + ext)).string(),
                test::pattern_volume(g3), g3, "int16");
  // A TIFF stack holds the grid and in-plane spacing only (see test_image_io).
  Geometry gt = g3;
  gt.origin = {0, 0, 0};
  gt.direction = Geometry{}.direction;
  gt.spacing[2] = 1;
  write_image((in3 / "stack.tif").string(), test::pattern_volume(gt), gt, "uint16");

  Geometry p2 = test::oblique_geometry_2d();
  p2.size = {23, 17, 1};
  p2.origin = {0, 0, 0};
  p2.direction = Geometry{}.direction;
  write_image((in2 / "plane.png").string(), test::pattern_volume(p2), p2, "uint16");
  write_image((in2 / "plane_tif.tif").string(), test::pattern_volume(p2), p2, "uint16");
  Geometry o2 = test::oblique_geometry_2d();
  o2.size = {23, 17, 1};
  write_image((in2 / "plane_nrrd.nrrd").string(), test::pattern_volume(o2), o2, "float");

  auto r3 = run_useg("segment --model " + m3 + " --input " + quote(in3) + " --output " +
                     quote(out / "3d") + " --format same --threads 2");
  ASSERT_EQ(r3.code, 0) << r3.output;
  for (size_t i = 0; i < full.size(); ++i) {
    SCOPED_TRACE(full[i]);
    Image input = read_image((in3 / ("vol" + std::to_string(i) + full[i])).string());
    expect_labels_on((out / "3d" / ("vol" + std::to_string(i) + full[i])).string(),
                     input.geometry, 3);
    EXPECT_TRUE(input.geometry.same_as(g3));
  }
  expect_labels_on((out / "3d" / "stack.tif").string(), read_image((in3 / "stack.tif").string()).geometry, 3);

  auto r2 = run_useg("segment --model " + m2 + " --input " + quote(in2) + " --output " +
                     quote(out / "2d") + " --format same");
  ASSERT_EQ(r2.code, 0) << r2.output;
  expect_labels_on((out / "2d" / "plane.png").string(), read_image((in2 / "plane.png").string()).geometry, 3);
  expect_labels_on((out / "2d" / "plane_tif.tif").string(), read_image((in2 / "plane_tif.tif").string()).geometry, 3);
  Image nrrd2 = read_image((in2 / "plane_nrrd.nrrd").string());
  EXPECT_TRUE(nrrd2.geometry.same_as(o2));
  expect_labels_on((out / "2d" / "plane_nrrd.nrrd").string(), nrrd2.geometry, 3);

  // The default format is NIfTI (.nii.gz) whatever the input.
  auto rd = run_useg("segment --model " + m3 + " --input " + quote(in3 / "vol2.nrrd") +
                     " --output " + quote(out / "default"));
  ASSERT_EQ(rd.code, 0) << rd.output;
  expect_labels_on((out / "default" / "vol2.nii.gz").string(), g3, 3);
}

TEST(SegmentGeometry, ProbabilitiesAndExtrasKeepTheGeometry) {
  fs::path root = test::fresh_dir("segment_probs");
  test::ModelSpec s;
  s.target_spacing = {1.7, 0.9, 0.6};  // the network works on a resampled grid
  std::string m = test::make_model(root / "model", s);
  const Geometry g = volume_geometry();
  write_image((root / "case.nii.gz").string(), test::pattern_volume(g), g, "float");
  auto r = run_useg("segment --model " + m + " --input " + quote(root / "case.nii.gz") +
                    " --output " + quote(root / "out") +
                    " --save-probabilities --instances --measure --preview --tta --batch 2 "
                    "--postprocess largest,fill-holes");
  ASSERT_EQ(r.code, 0) << r.output;
  expect_labels_on((root / "out" / "case.nii.gz").string(), g, 3);
  std::vector<float> sum(static_cast<size_t>(g.voxels()), 0.f);
  for (int k = 0; k < 3; ++k) {
    Image p = read_image((root / "out" / ("case_prob_" + std::to_string(k) + ".nii.gz")).string());
    EXPECT_TRUE(p.geometry.same_as(g));
    auto v = p.voxels.to_vector();
    for (size_t i = 0; i < v.size(); ++i) sum[i] += v[i];
  }
  for (float v : sum) ASSERT_NEAR(v, 1.f, 1e-4);
  Image inst = read_image((root / "out" / "case_instances.nii.gz").string());
  EXPECT_TRUE(inst.geometry.same_as(g));
  EXPECT_TRUE(fs::exists(root / "out" / "case_measurements.csv"));
  EXPECT_TRUE(fs::exists(root / "out" / "case_preview.png"));
}

const char* kColin = "/usr/share/mricron/templates/ch2.nii.gz";

class SegmentColin : public ::testing::TestWithParam<bool> {};

// The real Colin27 T1 (181x217x181, 1 mm) through an untrained 3D model; with resample = true
// model.json asks for 1.5 x 2 x 1.25 mm, so probabilities go back onto the input grid.
TEST_P(SegmentColin, LabelsKeepTheScanGeometry) {
  if (!fs::exists(kColin)) GTEST_SKIP() << kColin << " missing (Debian package mricron-data)";
  const bool resample = GetParam();
  fs::path root = test::fresh_dir(std::string("segment_colin") + (resample ? "_rs" : ""));
  test::ModelSpec s;
  s.classes = 2;
  s.patch = {64, 64, 64};  // overlap 0 below: 3x4x3 windows (native), 3x2x2 (resampled)
  if (resample) s.target_spacing = {1.5, 2.0, 1.25};
  std::string m = test::make_model(root / "model", s);
  auto r = run_useg("segment --model " + m + " --input " + kColin + " --output " +
                    quote(root / "out") + " --overlap 0 --threads 2");
  ASSERT_EQ(r.code, 0) << r.output;
  Image input = read_image(kColin);
  expect_labels_on((root / "out" / "ch2.nii.gz").string(), input.geometry, 2);
  auto report = test::read_report(root / "out" / "report.json");
  EXPECT_EQ(report["cases"][0]["status"], "done");
  EXPECT_EQ(report["cases"][0]["size"], nlohmann::json({181, 217, 181}));
}

INSTANTIATE_TEST_SUITE_P(Spacing, SegmentColin, ::testing::Values(false, true),
                         [](const auto& i) { return i.param ? "resampled" : "native"; });

// A 2D model on a 3D volume runs slice by slice: its labels equal those of each slice
// segmented as a 2D image (intensities not normalized, so the slices see the same values).
TEST(SegmentGeometry, TwoDModelOnVolumeEqualsSliceBySlice) {
  fs::path root = test::fresh_dir("segment_slicewise");
  test::ModelSpec s;
  s.dims = 2;
  s.patch = {16, 16};
  s.scheme = IntensityScheme::None;
  test::make_model(root / "model", s);
  auto backend = make_backend(Device::CPU);
  LoadedModel model = load_model_dir((root / "model").string(), *backend);
  Geometry g = volume_geometry();
  g.size = {27, 19, 5};
  Image vol{g, test::pattern_volume(g), "volume"};
  SegmentOptions opts;
  opts.save_probabilities = true;
  Segmentation whole = segment_image(vol, model.info, *model.net, opts);
  ASSERT_EQ(whole.labels.shape(), Shape::ncdhw(1, 1, 5, 19, 27));
  const int64_t plane = 27 * 19;
  for (int64_t z = 0; z < g.size[2]; ++z) {
    Geometry gz;
    gz.dims = 2;
    gz.size = {27, 19, 1};
    gz.spacing = {g.spacing[0], g.spacing[1], 1};
    Tensor slice = Tensor::empty(Shape::ncdhw(1, 1, 1, 19, 27));
    std::copy(vol.voxels.data() + z * plane, vol.voxels.data() + (z + 1) * plane, slice.data());
    Segmentation one = segment_image(Image{gz, slice, "slice"}, model.info, *model.net, opts);
    std::vector<float> expect = one.labels.to_vector();
    std::vector<float> got(whole.labels.data() + z * plane, whole.labels.data() + (z + 1) * plane);
    EXPECT_EQ(got, expect) << "slice " << z;
    for (int64_t k = 0; k < 3; ++k)
      for (int64_t i = 0; i < plane; ++i)
        ASSERT_NEAR(whole.probabilities.data()[(k * 5 + z) * plane + i],
                    one.probabilities.data()[k * plane + i], 1e-6);
  }
}

// The grid of the --max-memory estimate (network_grid) is the grid preprocess() gives the
// network, including when one axis is within the 1e-3 tolerance and another is not (preprocess
// then resamples every axis), and for a 2D model on a volume (in-plane only).
TEST(SegmentGeometry, NetworkGridIsTheGridPreprocessGives) {
  ModelInfo info;
  info.model.in_channels = 1;
  ChannelNorm ch;
  ch.name = "t1";
  ch.scheme = IntensityScheme::None;
  info.preprocess.channels = {ch};
  Geometry g = volume_geometry();
  g.size = {2001, 3, 2};
  g.spacing = {1.0, 1.0, 2.0};
  Image img{g, test::pattern_volume(g), "img"};
  struct Case {
    int dims;
    std::vector<double> target;  // [D, H, W] or [H, W]
  };
  for (const Case& c : {Case{3, {}}, Case{3, {2.0, 1.0, 1.0}}, Case{3, {2.0, 0.5, 1.0009}},
                        Case{3, {2.0, 1.0, 1.0009}}, Case{2, {0.5, 1.0009}},
                        Case{2, {1.0, 1.0004}}}) {
    info.model.dims = c.dims;
    info.preprocess.target_spacing = c.target;
    const NetworkInput in = preprocess(img, info);
    const Geometry grid = network_grid(g, info);
    EXPECT_EQ(grid.size, in.geometry.size) << c.dims << "D, target " << c.target.size();
    EXPECT_EQ(grid.spacing, in.geometry.spacing);
    EXPECT_EQ(grid.size != g.size, in.resampled);
  }
  info.model.dims = 3;
  info.preprocess.target_spacing = {2.0, 0.5, 1.0009};
  EXPECT_EQ(network_grid(g, info).size, (std::array<int64_t, 3>{1999, 6, 2}));
  EXPECT_DOUBLE_EQ(g.voxel_volume(), 2.0);
}

// preprocess() and check_segmentable() refuse an image that does not fit the model in the same
// words.
TEST(SegmentGeometry, ImageThatDoesNotFitTheModelIsRefusedAlike) {
  ModelInfo info;
  info.model.dims = 3;
  info.model.in_channels = 2;
  for (const char* name : {"t1", "flair"}) {
    ChannelNorm ch;
    ch.name = name;
    info.preprocess.channels.push_back(ch);
  }
  Geometry g = volume_geometry();
  Image one{g, test::pattern_volume(g, 1), "one.nii.gz"};
  const std::string channels =
      "one.nii.gz: the case has 1 channel(s) but the model expects 2 (t1, flair); give one file "
      "per channel named CASE_0000, CASE_0001, ...";
  EXPECT_USEG_ERROR(preprocess(one, info), channels);
  EXPECT_USEG_ERROR(check_segmentable(one, info), channels);
  Geometry g2 = test::oblique_geometry_2d();
  Image flat{g2, test::pattern_volume(g2, 2), "flat.png"};
  EXPECT_USEG_ERROR(preprocess(flat, info), "flat.png: the model is 3D but the image is 2D");
  EXPECT_USEG_ERROR(check_segmentable(flat, info), "flat.png: the model is 3D but the image is 2D");
}

}  // namespace
}  // namespace useg
