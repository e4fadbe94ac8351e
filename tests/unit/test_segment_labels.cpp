// Postprocessing, instances, measurements and previews of `useg segment` on synthetic label
// maps with known answers (hand-computed voxel counts, centroids, boxes and intensities).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "common/csv.h"
#include "common/expect_error.h"
#include "common/image_fixtures.h"
#include "segment_test_util.h"
#include "useg/error.h"
#include "useg/labels.h"
#include "plot/preview.h"
#include "useg/segment.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

// 3D grid 20x16x10 (x, y, z), spacing 0.5 x 1 x 2 mm (1 mm^3 voxels), origin (10, -5, 3).
Geometry scene_geometry() {
  Geometry g;
  g.dims = 3;
  g.size = {20, 16, 10};
  g.spacing = {0.5, 1.0, 2.0};
  g.origin = {10, -5, 3};
  return g;
}

void fill_box(Tensor& t, int label, int x0, int x1, int y0, int y1, int z0, int z1) {
  for (int z = z0; z <= z1; ++z)
    for (int y = y0; y <= y1; ++y)
      for (int x = x0; x <= x1; ++x) t.at(0, 0, z, y, x) = float(label);
}

// Class 1: box A 5x5x3 = 75 voxels (x 2..6, y 2..6, z 1..3) with a one-voxel cavity at
// (4, 4, 2), so 74 voxels; a small 2-voxel piece at (15..16, 12, 8).
// Class 2: box B 3x3x3 = 27 voxels (x 10..12, y 3..5, z 5..7).
Tensor scene_labels(const Geometry& g) {
  Tensor t = Tensor::zeros(Shape::ncdhw(1, 1, g.size[2], g.size[1], g.size[0]));
  fill_box(t, 1, 2, 6, 2, 6, 1, 3);
  t.at(0, 0, 2, 4, 4) = 0;
  fill_box(t, 1, 15, 16, 12, 12, 8, 8);
  fill_box(t, 2, 10, 12, 3, 5, 5, 7);
  return t;
}

int64_t count(const Tensor& t, int label) {
  int64_t n = 0;
  for (float v : t.to_vector()) n += v == float(label);
  return n;
}

TEST(SegmentPostprocess, ParsesStepsAndRejectsBadValues) {
  auto steps = parse_postprocess({"largest,min-size=100vox", "min-size=2.5mm3", "fill-holes"});
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_EQ(steps[0].kind, PostprocessStep::Kind::Largest);
  EXPECT_EQ(steps[1].kind, PostprocessStep::Kind::MinSize);
  EXPECT_EQ(steps[1].min_size, 100);
  EXPECT_EQ(steps[1].unit, "vox");
  EXPECT_EQ(steps[2].min_size, 2.5);
  EXPECT_EQ(steps[2].unit, "mm3");
  EXPECT_EQ(steps[3].kind, PostprocessStep::Kind::FillHoles);
  EXPECT_USEG_ERROR(parse_postprocess({"min-size=abc"}), "min-size needs a positive number");
  EXPECT_USEG_ERROR(parse_postprocess({"min-size=10"}), "unit vox, mm3 or mm2");
  EXPECT_USEG_ERROR(parse_postprocess({"min-size=-3vox"}), "bad value 'min-size=-3vox'");
  EXPECT_USEG_ERROR(parse_postprocess({"biggest"}), "unknown step 'biggest'");
  EXPECT_USEG_ERROR(parse_postprocess({","}), "empty value");
  // "none" alone is no steps (it overrides a model's steps); with other steps it is an error.
  EXPECT_TRUE(parse_postprocess({"none"}).empty());
  EXPECT_USEG_ERROR(parse_postprocess({"largest,none"}),
                    "--postprocess: 'none' cannot be combined with other steps (got 'largest,none')");
  EXPECT_USEG_ERROR(parse_postprocess({"none", "largest"}), "'none' cannot be combined");
  // largest=K1+K2: some classes only.
  auto some = parse_postprocess({"largest=3+1,largest"});
  ASSERT_EQ(some.size(), 2u);
  EXPECT_EQ(some[0].kind, PostprocessStep::Kind::Largest);
  EXPECT_EQ(some[0].classes, (std::vector<int>{3, 1}));
  EXPECT_TRUE(some[1].classes.empty());
  for (const char* bad : {"largest=", "largest=0", "largest=1+1", "largest=a", "largest=1+",
                          "largest=-2", "largest=2.5"})
    EXPECT_USEG_ERROR(parse_postprocess({bad}), "--postprocess: bad value '" + std::string(bad) +
                                                    "': largest= needs foreground class indices");
}

TEST(SegmentPostprocess, FillHolesLargestAndMinSizeGiveKnownCounts) {
  Geometry g = scene_geometry();
  Tensor base = scene_labels(g);
  ASSERT_EQ(count(base, 1), 74 + 2);
  ASSERT_EQ(count(base, 2), 27);

  Tensor filled = base.clone();
  fill_holes(filled, g, 3);
  EXPECT_EQ(count(filled, 1), 75 + 2);
  EXPECT_EQ(filled.at(0, 0, 2, 4, 4), 1.f);

  Tensor largest = base.clone();
  keep_largest_component(largest, g, 3);
  EXPECT_EQ(count(largest, 1), 74);
  EXPECT_EQ(count(largest, 2), 27);
  EXPECT_EQ(largest.at(0, 0, 8, 12, 15), 0.f);

  // 3 voxels: the 2-voxel piece goes, boxes stay. 27 voxels (= 27 mm^3): B stays (sizes equal to
  // the threshold are kept); 28 mm^3 removes B.
  Tensor small = base.clone();
  apply_postprocess(small, g, 3, parse_postprocess({"min-size=3vox"}), "scene");
  EXPECT_EQ(count(small, 1), 74);
  EXPECT_EQ(count(small, 2), 27);
  Tensor mm = base.clone();
  apply_postprocess(mm, g, 3, parse_postprocess({"min-size=27mm3"}), "scene");
  EXPECT_EQ(count(mm, 2), 27);
  apply_postprocess(mm, g, 3, parse_postprocess({"min-size=28mm3"}), "scene");
  EXPECT_EQ(count(mm, 2), 0);
  EXPECT_EQ(count(mm, 1), 74);

  // largest=K: class K only. Class 1 keeps its 2-voxel piece under largest=2; loses it under
  // largest=1; a class the labels do not have is an error naming the source.
  Tensor only2 = base.clone();
  apply_postprocess(only2, g, 3, parse_postprocess({"largest=2"}), "scene");
  EXPECT_EQ(count(only2, 1), 74 + 2);
  EXPECT_EQ(count(only2, 2), 27);
  Tensor only1 = base.clone();
  apply_postprocess(only1, g, 3, parse_postprocess({"largest=1"}), "scene");
  EXPECT_EQ(only1.to_vector(), largest.to_vector());
  Tensor none = base.clone();
  EXPECT_USEG_ERROR(apply_postprocess(none, g, 3, parse_postprocess({"largest=1+3"}), "scene.nii"),
                    "scene.nii: postprocess step largest=1+3 names class 3, but the labels have "
                    "classes 0 .. 2");

  // Steps run in order: fill holes, then keep the largest.
  Tensor both = base.clone();
  apply_postprocess(both, g, 3, parse_postprocess({"fill-holes,largest"}), "scene");
  EXPECT_EQ(count(both, 1), 75);

  Tensor t = base.clone();
  EXPECT_USEG_ERROR(apply_postprocess(t, g, 3, parse_postprocess({"min-size=5mm2"}), "scene.nii"),
                    "scene.nii: postprocess step min-size=5mm2 is an area but the image is 3D");
}

TEST(SegmentPostprocess, FillHolesNeverOverwritesAnotherClass) {
  Geometry g = scene_geometry();
  Tensor t = scene_labels(g);
  t.at(0, 0, 2, 4, 4) = 2;  // class 2 inside class 1's cavity
  fill_holes(t, g, 3);
  EXPECT_EQ(t.at(0, 0, 2, 4, 4), 2.f);
}

TEST(SegmentPostprocess, TwoDimensionalHolesAndAreas) {
  Geometry g;
  g.dims = 2;
  g.size = {12, 10, 1};
  g.spacing = {0.5, 0.25, 1};
  Tensor t = Tensor::zeros(Shape::ncdhw(1, 1, 1, 10, 12));
  fill_box(t, 1, 1, 5, 1, 5, 0, 0);  // ring with a 3x3 hole
  fill_box(t, 0, 2, 4, 2, 4, 0, 0);
  fill_box(t, 1, 9, 10, 8, 8, 0, 0);  // 2 pixels = 0.25 mm^2
  fill_holes(t, g, 2);
  EXPECT_EQ(count(t, 1), 25 + 2);
  apply_postprocess(t, g, 2, parse_postprocess({"min-size=0.3mm2"}), "plane");
  EXPECT_EQ(count(t, 1), 25);
  EXPECT_USEG_ERROR(apply_postprocess(t, g, 2, parse_postprocess({"min-size=1mm3"}), "plane.png"),
                    "is a volume but the image is 2D");
}

// largest-foreground: the classes as one region. Region A is a class-1 box (9 pixels) touching a
// class-2 box (9 pixels): 18 foreground pixels; region B a lone class-1 box of 16. `largest` keeps
// class 1's B and class 2's box; largest-foreground keeps A whole and drops B.
TEST(SegmentPostprocess, LargestForegroundTakesTheClassesAsOneRegion) {
  Geometry g;
  g.dims = 2;
  g.size = {16, 8, 1};
  Tensor t = Tensor::zeros(Shape::ncdhw(1, 1, 1, 8, 16));
  fill_box(t, 1, 0, 2, 0, 2, 0, 0);    // A, class 1
  fill_box(t, 2, 3, 5, 0, 2, 0, 0);    // A, class 2 (touching)
  fill_box(t, 1, 10, 13, 3, 6, 0, 0);  // B
  Tensor per_class = t.clone();
  apply_postprocess(per_class, g, 3, parse_postprocess({"largest"}), "plane");
  EXPECT_EQ(count(per_class, 1), 16);
  EXPECT_EQ(count(per_class, 2), 9);
  apply_postprocess(t, g, 3, parse_postprocess({"largest-foreground"}), "plane");
  EXPECT_EQ(count(t, 1), 9);
  EXPECT_EQ(count(t, 2), 9);
  EXPECT_EQ(t.at(0, 0, 0, 0, 0), 1.f);
  EXPECT_EQ(t.at(0, 0, 0, 0, 5), 2.f);
  EXPECT_EQ(t.at(0, 0, 0, 4, 11), 0.f);
}

TEST(SegmentInstances, NumberedByClassThenSize) {
  Geometry g = scene_geometry();
  std::vector<int> cls;
  Tensor inst = label_instances(scene_labels(g), g, 3, &cls);
  ASSERT_EQ(cls, (std::vector<int>{1, 1, 2}));
  EXPECT_EQ(count(inst, 1), 74);  // box A
  EXPECT_EQ(count(inst, 2), 2);   // the small piece
  EXPECT_EQ(count(inst, 3), 27);  // box B
  EXPECT_EQ(inst.at(0, 0, 8, 12, 15), 2.f);
  EXPECT_EQ(inst.at(0, 0, 6, 4, 11), 3.f);
}

using test::parse_csv;

double num(const std::map<std::string, std::string>& row, const std::string& key) {
  auto it = row.find(key);
  EXPECT_NE(it, row.end()) << key;
  return it == row.end() ? NAN : std::stod(it->second);
}

// Intensity f = x + 10 y + 50 z (test::integer_volume with offset 0).
TEST(SegmentMeasure, CsvMatchesHandComputedValues) {
  fs::path dir = test::fresh_dir("segment_measure");
  Geometry g = scene_geometry();
  Image image{g, test::integer_volume(g, 0.f), "scene.nii.gz"};
  Segmentation seg;
  seg.labels = scene_labels(g);
  seg.instances = label_instances(seg.labels, g, 3, &seg.instance_class);
  ModelInfo info;
  info.model.num_classes = 3;
  info.labels = {"background", "liver", "tumour"};
  SegmentOptions opts;
  opts.instances = opts.measure = opts.preview = true;
  CaseOutputs out = case_outputs(dir.string(), "scene", ".nii.gz", 3, opts);
  write_segmentation(image, seg, info, out, "scene");
  for (const std::string& p : out.all()) EXPECT_TRUE(fs::exists(p)) << p;

  auto rows = parse_csv(read_file(out.measurements));
  ASSERT_EQ(rows.size(), 3u);
  // Box B (instance 3, class 2): x 10..12, y 3..5, z 5..7; 27 voxels of 1 mm^3.
  const auto& b = rows[2];
  EXPECT_EQ(b.at("label"), "3");
  EXPECT_EQ(b.at("class"), "2");
  EXPECT_EQ(b.at("class_name"), "tumour");
  EXPECT_EQ(num(b, "voxels"), 27);
  EXPECT_NEAR(num(b, "physical_size"), 27.0, 1e-9);
  EXPECT_EQ(b.at("physical_unit"), "mm3");
  EXPECT_NEAR(num(b, "centroid_x_mm"), 10 + 0.5 * 11, 1e-9);
  EXPECT_NEAR(num(b, "centroid_y_mm"), -5 + 1.0 * 4, 1e-9);
  EXPECT_NEAR(num(b, "centroid_z_mm"), 3 + 2.0 * 6, 1e-9);
  EXPECT_EQ(num(b, "bbox_x0"), 10);
  EXPECT_EQ(num(b, "bbox_y0"), 3);
  EXPECT_EQ(num(b, "bbox_z0"), 5);
  EXPECT_EQ(num(b, "bbox_x1"), 12);
  EXPECT_EQ(num(b, "bbox_y1"), 5);
  EXPECT_EQ(num(b, "bbox_z1"), 7);
  EXPECT_NEAR(num(b, "mean_intensity"), 11 + 10 * 4 + 50 * 6, 1e-4);
  EXPECT_NEAR(num(b, "min_intensity"), 10 + 10 * 3 + 50 * 5, 1e-6);
  EXPECT_NEAR(num(b, "max_intensity"), 12 + 10 * 5 + 50 * 7, 1e-6);
  // Principal moments of 3 voxel centres per axis, spacing 0.5, 1, 2 mm: variances
  // s^2 (n^2 - 1) / 12 = 1/6, 2/3, 8/3 mm^2, so elongation = sqrt((8/3) / (2/3)) = 2.
  EXPECT_NEAR(num(b, "elongation"), 2.0, 1e-6);
  // Roundness is ITK's: its perimeter estimate on a small digital box can push it past 1.
  EXPECT_GT(num(b, "roundness"), 0.0);

  // Box A without its cavity voxel (4, 4, 2): 74 voxels; sums over the full box minus that voxel.
  const auto& a = rows[0];
  EXPECT_EQ(a.at("label"), "1");
  EXPECT_EQ(a.at("class_name"), "liver");
  EXPECT_EQ(num(a, "voxels"), 74);
  double sx = 0, sy = 0, sz = 0, si = 0;
  for (int z = 1; z <= 3; ++z)
    for (int y = 2; y <= 6; ++y)
      for (int x = 2; x <= 6; ++x)
        if (!(x == 4 && y == 4 && z == 2)) sx += x, sy += y, sz += z, si += x + 10 * y + 50 * z;
  EXPECT_NEAR(num(a, "centroid_x_mm"), 10 + 0.5 * sx / 74, 1e-6);
  EXPECT_NEAR(num(a, "centroid_y_mm"), -5 + 1.0 * sy / 74, 1e-6);
  EXPECT_NEAR(num(a, "centroid_z_mm"), 3 + 2.0 * sz / 74, 1e-6);
  EXPECT_NEAR(num(a, "mean_intensity"), si / 74, 1e-4);
  // The small piece: 2 voxels at (15..16, 12, 8).
  const auto& s = rows[1];
  EXPECT_EQ(num(s, "voxels"), 2);
  EXPECT_NEAR(num(s, "centroid_x_mm"), 10 + 0.5 * 15.5, 1e-9);
  EXPECT_NEAR(num(s, "min_intensity"), 15 + 120 + 400, 1e-6);
  EXPECT_NEAR(num(s, "max_intensity"), 16 + 120 + 400, 1e-6);

  // The instance image holds the same ids.
  Image back = read_image(out.instances);
  EXPECT_TRUE(back.geometry.same_as(g));
  EXPECT_EQ(back.voxels.to_vector(), seg.instances.to_vector());
  // The preview has the documented layout: three panels of 256 px height plus the legend.
  PreviewLayout l = preview_layout(g);
  ASSERT_EQ(l.panel_widths.size(), 3u);
  // axial: x extent 10 mm over y extent 16 mm; coronal: 10 over z 20; sagittal: 16 over 20
  EXPECT_EQ(l.panel_widths[0], 160);
  EXPECT_EQ(l.panel_widths[1], 128);
  EXPECT_EQ(l.panel_widths[2], 205);
  EXPECT_EQ(l.width, 160 + 128 + 205 + 2 * kPreviewGap);
  EXPECT_EQ(l.height, kPreviewPanelHeight + kPreviewLegendHeight);
  Image png = read_image(out.preview);
  EXPECT_EQ(png.geometry.size[0], l.width);
  EXPECT_EQ(png.geometry.size[1], l.height);
}

TEST(SegmentMeasure, CentroidsFollowAnObliqueDirection) {
  Geometry g = scene_geometry();
  g.direction = test::oblique_direction();
  std::vector<int> cls;
  Tensor labels = scene_labels(g);
  Tensor inst = label_instances(labels, g, 3, &cls);
  auto rows = measure_objects(inst, cls, g, test::integer_volume(g, 0.f));
  ASSERT_EQ(rows.size(), 3u);
  std::array<double, 3> idx{11, 4, 6}, expect{};
  for (int i = 0; i < 3; ++i) {
    expect[i] = g.origin[i];
    for (int j = 0; j < 3; ++j) expect[i] += g.direction[3 * i + j] * g.spacing[j] * idx[j];
  }
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(rows[2].centroid[i], expect[i], 1e-9);
}

TEST(SegmentMeasure, TwoDimensionalAreas) {
  Geometry g;
  g.dims = 2;
  g.size = {12, 10, 1};
  g.spacing = {0.5, 0.25, 1};
  Tensor t = Tensor::zeros(Shape::ncdhw(1, 1, 1, 10, 12));
  fill_box(t, 1, 1, 4, 2, 3, 0, 0);  // 8 pixels of 0.125 mm^2
  std::vector<int> cls;
  Tensor inst = label_instances(t, g, 2, &cls);
  auto rows = measure_objects(inst, cls, g, test::integer_volume(g, 0.f));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].voxels, 8);
  EXPECT_NEAR(rows[0].physical_size, 1.0, 1e-12);
  EXPECT_NEAR(rows[0].centroid[0], 0.5 * 2.5, 1e-12);
  EXPECT_NEAR(rows[0].centroid[1], 0.25 * 2.5, 1e-12);
  EXPECT_NE(measurements_csv("p", rows, g, {"bg", "cell"}).find(",mm2,"), std::string::npos);
}

}  // namespace
}  // namespace useg
