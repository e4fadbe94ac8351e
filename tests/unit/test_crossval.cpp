// `useg crossval` (src/train/crossval.h): two 2-fold cross-validations of tiny networks on noisy
// blobs; the summary must hold every case once with the rows of its fold's own
// validation/summary.json, its means must equal `useg eval` of all validation files copied into
// one folder, the comparison must name the higher score, and the errors must name the run or file.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/train_fixtures.h"
#include "core/files.h"
#include "segment_test_util.h"
#include "train/crossval.h"
#include "useg/train.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

using test::quote;
using test::run_useg;

void train_cv(const fs::path& data, const fs::path& cv, int epochs) {
  for (int k = 0; k < 2; ++k) {
    RunConfig run = test::tiny_run(2);
    run.train.epochs = epochs;
    run.train.iterations_per_epoch = 4;
    run.train.fold = k;
    run.train.folds = 2;
    train(test::quiet_train_options(data, cv / ("fold_" + std::to_string(k)), run));
  }
}

double mean_dice(const nlohmann::json& report) {
  for (const auto& row : report.at("summary"))
    if (row.at("label") == 1) return row.at("dice").get<double>();
  return -1;
}

TEST(Crossval, ScoresEveryFoldsValidationTogetherAndComparesConfigurations) {
  const fs::path root = test::fresh_dir("crossval");
  test::BlobDataset b;
  b.cases = 6;
  b.size = 48;
  b.noise = 0.6;
  test::write_blob_dataset(root / "data", b);
  train_cv(root / "data", root / "a", 2);
  train_cv(root / "data", root / "b", 1);

  auto r = run_useg("crossval --run " + quote(root / "a") + " --data " + quote(root / "data"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("2 fold(s), 6 validation case(s)"), std::string::npos) << r.output;
  const nlohmann::json j =
      nlohmann::json::parse(read_file((root / "a" / "crossval_summary.json").string()));
  ASSERT_EQ(j.at("cases").size(), 6u);
  EXPECT_TRUE(j.at("not_validated").empty());
  // Every case once, in name order, with the rows its own fold's final validation wrote.
  std::string previous;
  for (size_t i = 0; i < 6; ++i) {
    const nlohmann::json& c = j["cases"][i];
    const std::string name = c.at("case"), run = j.at("case_folds")[i];
    EXPECT_LT(previous, name);
    previous = name;
    const nlohmann::json fold =
        nlohmann::json::parse(read_file((fs::path(run) / "validation" / "summary.json").string()));
    bool found = false;
    for (const auto& fc : fold.at("cases"))
      if (fc.at("case") == name) {
        found = true;
        EXPECT_EQ(fc.at("rows"), c.at("rows")) << name;
      }
    EXPECT_TRUE(found) << name << " in " << run;
  }
  // The means: useg eval of all the validation files in one folder against labelsTr.
  fs::create_directories(root / "all");
  for (int k = 0; k < 2; ++k)
    for (const auto& e :
         fs::directory_iterator(root / "a" / ("fold_" + std::to_string(k)) / "validation"))
      if (e.path().extension() == ".gz")
        fs::copy_file(e.path(), root / "all" / e.path().filename());
  auto e = run_useg("eval --pred " + quote(root / "all") + " --ref " +
                    quote(root / "data" / "labelsTr") + " --labels 1 --json " +
                    quote(root / "all.json"));
  ASSERT_EQ(e.code, 0) << e.output;
  const nlohmann::json ev = nlohmann::json::parse(read_file((root / "all.json").string()));
  EXPECT_NEAR(mean_dice(j), mean_dice(ev), 1e-12);
  EXPECT_NEAR(j.at("score").get<double>(), mean_dice(ev), 1e-9);

  // Two configurations: the higher score is named.
  r = run_useg("crossval --run " + quote(root / "b") + " --run " + quote(root / "a") + " --data " +
               quote(root / "data"));
  ASSERT_EQ(r.code, 0) << r.output;
  const double sa = cross_validate((root / "a").string(), (root / "data").string()).score;
  const double sb = cross_validate((root / "b").string(), (root / "data").string()).score;
  ASSERT_NE(sa, sb) << "the two configurations must differ";
  EXPECT_NE(r.output.find("best: " + (root / (sa > sb ? "a" : "b")).string() + "\n"),
            std::string::npos)
      << r.output;

  // One fold alone: the other fold's cases are listed as not validated.
  r = run_useg("crossval --run " + quote(root / "a" / "fold_1") + " --data " +
               quote(root / "data"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("warning: 3 case(s) of"), std::string::npos) << r.output;

  // Errors name the file or run.
  fs::copy(root / "a" / "fold_0", root / "a" / "fold_2", fs::copy_options::recursive);
  r = run_useg("crossval --run " + quote(root / "a") + " --data " + quote(root / "data"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("is validated by both " + (root / "a" / "fold_0").string() + " and " +
                          (root / "a" / "fold_2").string()),
            std::string::npos)
      << r.output;
  fs::remove_all(root / "a" / "fold_2");
  fs::remove(root / "b" / "fold_1" / "validation" / "summary.json");
  r = run_useg("crossval --run " + quote(root / "b") + " --data " + quote(root / "data"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find((root / "b" / "fold_1").string() + " has no final validation"),
            std::string::npos)
      << r.output;
  const nlohmann::json fold0 = nlohmann::json::parse(
      read_file((root / "a" / "fold_0" / "validation" / "summary.json").string()));
  const std::string first = fold0.at("cases")[0].at("case");
  const fs::path gone = root / "a" / "fold_0" / "validation" / (first + ".nii.gz");
  fs::remove(gone);
  r = run_useg("crossval --run " + quote(root / "a") + " --data " + quote(root / "data"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find(gone.string() + " is missing"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace useg
