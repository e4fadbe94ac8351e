// `useg eval` end to end: folders of label files -> CSV rows, mean rows and JSON; pairing of file
// names; geometry mismatches; exit codes. Runs the built binary.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/csv.h"
#include "common/image_fixtures.h"
#include "eval_test_util.h"
#include "useg/eval.h"
#include "core/files.h"
#include "useg/image.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

struct CliRun {
  int code = -1;
  std::string out, err;
};

CliRun run_useg(const std::string& args, const fs::path& dir) {
  const fs::path out = dir / "stdout.txt", err = dir / "stderr.txt";
  const std::string cmd =
      std::string(USEG_BINARY) + " " + args + " >" + out.string() + " 2>" + err.string();
  const int status = std::system(cmd.c_str());
  CliRun r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(out.string());
  r.err = read_file(err.string());
  return r;
}

using test::CsvRow;

std::vector<CsvRow> read_csv(const fs::path& path) { return test::parse_csv(read_file(path.string())); }

Geometry case_geometry() {
  Geometry g = test::oblique_geometry_3d();
  g.size = {24, 20, 10};
  g.spacing = {0.8, 0.9, 2.5};
  return g;
}

// Three cases a, b, c with labels 1 and 2; predictions named a, b_seg and c (other formats).
struct Dataset {
  fs::path dir, pred, ref;
  std::map<std::string, std::vector<LabelMetrics>> expected;  // computed in process
};

Dataset make_dataset(const std::string& name) {
  Dataset d;
  d.dir = test::fresh_dir(name);
  d.pred = d.dir / "pred";
  d.ref = d.dir / "ref";
  fs::create_directories(d.pred);
  fs::create_directories(d.ref);
  const Geometry g = case_geometry();
  const char* pred_names[3] = {"a.nii.gz", "b_seg.nii.gz", "c.nrrd"};
  const char* ref_names[3] = {"a.nii.gz", "b.nii.gz", "c.mha"};
  for (int i = 0; i < 3; ++i) {
    Tensor pred, ref;
    test::random_blob_pair(g, 100 + i, 2, pred, ref);
    write_image((d.pred / pred_names[i]).string(), pred, g, "uint8");
    write_image((d.ref / ref_names[i]).string(), ref, g, "uint8");
    d.expected[std::string(1, "abc"[i])] = evaluate_labels(pred, ref, g, {1, 2});
  }
  return d;
}

double num(const CsvRow& r, const std::string& col) { return std::stod(r.at(col)); }

TEST(EvalCli, FolderPairCsvMeansAndJson) {
  const Dataset d = make_dataset("eval_cli");
  // A prediction without a reference is reported and ignored.
  Tensor zero = test::label_map(case_geometry(), [](int64_t, int64_t, int64_t) { return 0; });
  write_image((d.pred / "zzz.nii.gz").string(), zero, case_geometry(), "uint8");
  const fs::path csv = d.dir / "m.csv", json = d.dir / "m.json";
  const CliRun r =
      run_useg("eval --pred " + d.pred.string() + " --ref " + d.ref.string() +
                   " --tolerance-mm 2 --output " + csv.string() + " --json " + json.string(),
               d.dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("zzz.nii.gz"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("evaluated 3 of 3"), std::string::npos) << r.out;

  const auto rows = read_csv(csv);
  ASSERT_EQ(rows.size(), 3u * 2 + 2);
  std::map<int, std::vector<double>> dice_by_label, hd95_by_label;
  for (size_t i = 0; i < 6; ++i) {
    const CsvRow& row = rows[i];
    const std::string c = row.at("case");
    const int label = std::stoi(row.at("label"));
    ASSERT_TRUE(d.expected.count(c)) << c;
    const LabelMetrics& e = d.expected.at(c).at(label - 1);
    EXPECT_EQ(row.at("ref_voxels"), std::to_string(e.counts.ref));
    EXPECT_NEAR(num(row, "dice"), e.dice, 1e-9);
    EXPECT_NEAR(num(row, "hd95_mm"), e.hd95, 1e-6 * (1 + e.hd95));
    EXPECT_NEAR(num(row, "assd_mm"), e.assd, 1e-6 * (1 + e.assd));
    // NIfTI stores the spacing as float32: volumes agree to ~1e-8 relative.
    EXPECT_NEAR(num(row, "ref_mm3"), e.counts.ref * 0.8 * 0.9 * 2.5, 1e-7 * e.ref_mm3);
    EXPECT_EQ(row.at("nsd_tol_mm"), "2");
    dice_by_label[label].push_back(e.dice);
    hd95_by_label[label].push_back(e.hd95);
  }
  EXPECT_EQ(rows[0].at("case"), "a");
  EXPECT_EQ(rows[2].at("case"), "b");  // b_seg.nii.gz paired with b.nii.gz
  for (int label : {1, 2}) {
    const CsvRow& mean = rows[6 + label - 1];
    EXPECT_EQ(mean.at("case"), "mean");
    EXPECT_EQ(std::stoi(mean.at("label")), label);
    const auto& v = dice_by_label[label];
    EXPECT_NEAR(num(mean, "dice"), (v[0] + v[1] + v[2]) / 3, 1e-9);
    const auto& h = hd95_by_label[label];
    EXPECT_NEAR(num(mean, "hd95_mm"), (h[0] + h[1] + h[2]) / 3, 1e-6);
    EXPECT_EQ(mean.at("flag"), "cases=3");
  }

  const nlohmann::json j = nlohmann::json::parse(read_file(json.string()));
  EXPECT_EQ(j.at("mode"), "labels");
  ASSERT_EQ(j.at("cases").size(), 3u);
  EXPECT_EQ(j.at("cases")[1].at("case"), "b");
  EXPECT_NEAR(j.at("cases")[1].at("rows")[0].at("dice").get<double>(), d.expected.at("b")[0].dice,
              1e-9);
  EXPECT_EQ(j.at("summary").size(), 2u);
  EXPECT_EQ(j.at("unmatched_predictions").size(), 1u);
  EXPECT_TRUE(j.at("failed").empty());

  // A listed label found nowhere: empty pairs (Dice 1), undefined distances as JSON null.
  const fs::path json3 = d.dir / "m3.json";
  const CliRun r3 = run_useg("eval --labels 1,2,3 --pred " + d.pred.string() + " --ref " +
                                 d.ref.string() + " --json " + json3.string(),
                             d.dir);
  ASSERT_EQ(r3.code, 0) << r3.err;
  const nlohmann::json j3 = nlohmann::json::parse(read_file(json3.string()));
  const nlohmann::json& row3 = j3.at("cases")[0].at("rows")[2];
  EXPECT_EQ(row3.at("label"), 3);
  EXPECT_EQ(row3.at("flag"), "empty_both");
  EXPECT_EQ(row3.at("dice"), 1);
  EXPECT_TRUE(row3.at("hd_mm").is_null());
  EXPECT_EQ(j3.at("summary")[2].at("flag"), "cases=3 distances_over=0");
}

TEST(EvalCli, GeometryMismatchNamesBothFiles) {
  const Dataset d = make_dataset("eval_cli_geom");
  Geometry g = case_geometry();
  g.spacing[2] = 3.0;
  Tensor zero = test::label_map(g, [](int64_t, int64_t, int64_t) { return 0; });
  fs::remove(d.pred / "c.nrrd");
  write_image((d.pred / "c.nrrd").string(), zero, g, "uint8");
  const fs::path csv = d.dir / "m.csv";
  const CliRun r = run_useg(
      "eval --pred " + d.pred.string() + " --ref " + d.ref.string() + " --output " + csv.string(),
      d.dir);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("geometry mismatch between prediction " + (d.pred / "c.nrrd").string() +
                       " and reference " + (d.ref / "c.mha").string()),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("spacing"), std::string::npos) << r.err;
  EXPECT_EQ(read_csv(csv).size(), 2u * 2 + 2);  // the other cases are still reported
}

TEST(EvalCli, MissingPredictionExitsOne) {
  const Dataset d = make_dataset("eval_cli_missing");
  fs::remove(d.pred / "a.nii.gz");
  const CliRun r = run_useg("eval --pred " + d.pred.string() + " --ref " + d.ref.string(), d.dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("have no prediction: " + (d.ref / "a.nii.gz").string()), std::string::npos)
      << r.err;
  EXPECT_NE(r.out.find("evaluated 2 of 3"), std::string::npos) << r.out;
}

TEST(EvalCli, InstancesSingleFiles) {
  const fs::path dir = test::fresh_dir("eval_cli_inst");
  const Geometry g = test::grid(2, {12, 6, 1}, {0.5, 0.5, 1});
  Tensor ref = test::label_map(g, [](int64_t x, int64_t y, int64_t) {
    return y < 3 ? (x < 4 ? 1 : x >= 6 && x < 10 ? 2 : 0) : 0;
  });
  Tensor pred = test::label_map(
      g, [](int64_t x, int64_t y, int64_t) { return y < 3 && x < 4 ? 5 : (y == 5 ? 9 : 0); });
  write_image((dir / "ref.png").string(), ref, g, "uint8");
  write_image((dir / "pred.png").string(), pred, g, "uint8");
  const fs::path csv = dir / "i.csv";
  const CliRun r =
      run_useg("eval --instances --iou-thresholds 0.5,0.9 --pred " + (dir / "pred.png").string() +
                   " --ref " + (dir / "ref.png").string() + " --output " + csv.string(),
               dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto rows = read_csv(csv);
  // 2 thresholds and their mean, then mean + pooled per threshold and over the thresholds
  ASSERT_EQ(rows.size(), 3u + 4 + 2);
  EXPECT_EQ(rows[0].at("case"), "ref");
  EXPECT_EQ(rows[0].at("tp"), "1");
  EXPECT_EQ(rows[0].at("fp"), "1");
  EXPECT_EQ(rows[0].at("fn"), "1");
  EXPECT_EQ(rows[0].at("f1"), "0.5");
  EXPECT_EQ(rows[2].at("iou_threshold"), "mean");
  EXPECT_EQ(rows[4].at("case"), "pooled");
  EXPECT_EQ(rows[4].at("iou_threshold"), "0.5");
  EXPECT_EQ(rows[8].at("case"), "pooled");
  EXPECT_EQ(rows[8].at("iou_threshold"), "mean");
  // The terminal summary names AP and PQ.
  EXPECT_NE(r.out.find("AP 0.3333  PQ 0.5000"), std::string::npos) << r.out;
}

TEST(EvalCli, Pairing) {
  const CasePairing p =
      pair_cases({"/p/a_seg.nii.gz", "/p/a_b.nii.gz", "/p/c.nii.gz", "/p/c_pred.nii.gz",
                  "/p/x.nii.gz", "/p/d_1.nii.gz"},
                 {"/r/a.nii.gz", "/r/a_b.nii.gz", "/r/c.nrrd", "/r/d.nii.gz", "/r/e.nii.gz"});
  ASSERT_EQ(p.pairs.size(), 3u);
  EXPECT_EQ(p.pairs[0].name, "a");
  EXPECT_EQ(p.pairs[0].pred, "/p/a_seg.nii.gz");
  EXPECT_EQ(p.pairs[1].name, "a_b");  // exact name wins over the suffix rule
  EXPECT_EQ(p.pairs[2].name, "d");
  EXPECT_EQ(p.unmatched_predictions, (std::vector<std::string>{"/p/x.nii.gz"}));
  EXPECT_EQ(p.missing_predictions, (std::vector<std::string>{"/r/e.nii.gz"}));
  ASSERT_EQ(p.problems.size(), 1u);  // c and c_pred both claim c
  EXPECT_EQ(p.problems[0].first, "c");
}

}  // namespace
}  // namespace useg
