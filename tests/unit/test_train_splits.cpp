// Cross-validation folds (train.fold / train.folds, src/train/splits.h): the split nnU-Net makes
// (sklearn's KFold with shuffle and random_state 12345 over the sorted cases), DATASET/splits.json
// written once and read back, every case validated exactly once over the folds, errors naming
// the file, and a fold trained through useg::train.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "common/expect_error.h"
#include "common/image_fixtures.h"
#include "common/shape_classes.h"
#include "common/train_fixtures.h"
#include "core/files.h"
#include "segment_test_util.h"
#include "train/checkpoint.h"
#include "train/class_data.h"
#include "train/class_train.h"
#include "train/dataset.h"
#include "train/splits.h"
#include "useg/error.h"
#include "useg/train.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

std::vector<std::string> case_names(int n) {
  std::vector<std::string> v;
  for (int i = 0; i < n; ++i) {
    char b[16];
    std::snprintf(b, sizeof b, "case_%03d", i);
    v.push_back(b);
  }
  return v;
}

// The validation indices of each fold from scikit-learn 1.x:
//   [list(te) for _, te in KFold(n_splits=k, shuffle=True, random_state=12345).split(range(n))]
TEST(TrainSplits, KFoldMatchesScikitLearn) {
  const std::map<std::pair<int, int>, std::vector<std::vector<int>>> expected = {
      {{10, 5}, {{0, 7}, {3, 9}, {4, 6}, {1, 8}, {2, 5}}},
      {{7, 3}, {{3, 4, 6}, {0, 1}, {2, 5}}},
      {{23, 5},
       {{3, 8, 10, 17, 19}, {0, 7, 12, 15, 16}, {6, 11, 14, 18, 20}, {9, 13, 21, 22}, {1, 2, 4, 5}}},
      {{3, 3}, {{0}, {1}, {2}}},
  };
  for (const auto& [nk, folds] : expected) {
    std::vector<std::string> names = case_names(nk.first);
    std::vector<DataSplit> s = training::kfold_splits(names, nk.second);
    ASSERT_EQ(s.size(), folds.size());
    for (size_t f = 0; f < folds.size(); ++f) {
      std::vector<std::string> val;
      for (int i : folds[f]) val.push_back(names[size_t(i)]);
      EXPECT_EQ(s[f].val, val) << "n " << nk.first << " fold " << f;
      std::vector<std::string> train;
      for (const std::string& n : names)
        if (std::find(val.begin(), val.end(), n) == val.end()) train.push_back(n);
      EXPECT_EQ(s[f].train, train) << "n " << nk.first << " fold " << f;
    }
  }
  test::expect_error([] { training::kfold_splits(case_names(3), 4); },
                     "cannot make 4 cross-validation folds of 3 cases");
}

// The validation indices of each fold from scikit-learn 1.2.1 (Debian 12's python3-sklearn):
//   [list(te) for _, te in StratifiedKFold(n_splits=k, shuffle=True, random_state=12345)
//                              .split(np.zeros(len(y)), y)]
// with classes in runs, interleaved (first appearance 2, 0, 1), one with fewer items than folds,
// and label values that are not 0..K-1.
TEST(TrainSplits, StratifiedKFoldMatchesScikitLearn) {
  struct Case {
    std::vector<int> y;
    int folds;
    std::vector<std::vector<int>> val;
  };
  const std::vector<Case> cases = {
      {{0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2},
       3,
       {{0, 3, 7, 9, 11}, {2, 4, 6, 10, 12}, {1, 5, 8, 13, 14}}},
      {{2, 0, 1, 2, 2, 0, 1, 1, 2, 0, 2, 2}, 4, {{1, 8, 10}, {2, 3, 11}, {4, 5, 6}, {0, 7, 9}}},
      {{0, 0, 0, 0, 0, 1, 1, 0, 0}, 3, {{3, 4, 8}, {1, 2, 6}, {0, 5, 7}}},
      {{5, 3, 5, 3, 5, 3, 5}, 2, {{0, 3, 4, 5}, {1, 2, 6}}},
  };
  for (const Case& c : cases) {
    const std::vector<std::string> names = case_names(int(c.y.size()));
    const std::vector<DataSplit> s = training::stratified_kfold_splits(names, c.y, c.folds);
    ASSERT_EQ(s.size(), c.val.size());
    for (size_t f = 0; f < c.val.size(); ++f) {
      std::vector<std::string> val, train;
      for (int i : c.val[f]) val.push_back(names[size_t(i)]);
      for (const std::string& n : names)
        if (std::find(val.begin(), val.end(), n) == val.end()) train.push_back(n);
      EXPECT_EQ(s[f].val, val) << c.y.size() << " items, fold " << f;
      EXPECT_EQ(s[f].train, train) << c.y.size() << " items, fold " << f;
    }
  }
  test::expect_error(
      [] {
        training::stratified_kfold_splits(case_names(2), {0, 1}, 3);
      },
      "cannot make 3 cross-validation folds of 2 images");
}

Dataset blob_dataset(const fs::path& dir, int cases) {
  test::BlobDataset b;
  b.cases = cases;
  b.size = 32;
  test::write_blob_dataset(dir, b);
  return scan_dataset(dir.string());
}

TrainConfig fold_config(int fold, int folds) {
  TrainConfig t;
  t.fold = fold;
  t.folds = folds;
  return t;
}

// The first fold's run writes splits.json; every other fold reads the same file; over the folds
// every case is validated exactly once and never trained on in its own fold.
TEST(TrainSplits, SplitsJsonIsWrittenOnceAndEveryCaseValidatedOnce) {
  fs::path d = test::fresh_dir("train_splits_stable");
  Dataset ds = blob_dataset(d, 7);
  std::vector<std::string> logs;
  auto log = [&](const std::string& l) { logs.push_back(l); };
  DataSplit first = training::fold_split(ds, fold_config(0, 3), log);
  ASSERT_TRUE(fs::exists(d / "splits.json"));
  ASSERT_EQ(logs.size(), 1u);
  EXPECT_NE(logs[0].find("wrote"), std::string::npos) << logs[0];
  const std::string written = read_file((d / "splits.json").string());
  EXPECT_EQ(written.rfind("[\n    {\n        \"train\": [", 0), 0u) << written;  // nnU-Net's indent

  std::map<std::string, int> validated;
  for (int f = 0; f < 3; ++f) {
    DataSplit s = training::fold_split(ds, fold_config(f, 3), log);
    if (f == 0) {
      EXPECT_EQ(s.train, first.train);
      EXPECT_EQ(s.val, first.val);
    }
    std::set<std::string> tr(s.train.begin(), s.train.end());
    for (const std::string& v : s.val) {
      ++validated[v];
      EXPECT_EQ(tr.count(v), 0u) << v << " both trained and validated in fold " << f;
    }
    EXPECT_EQ(s.train.size() + s.val.size(), 7u);
  }
  EXPECT_EQ(read_file((d / "splits.json").string()), written) << "read, never rewritten";
  EXPECT_EQ(logs.back().find("wrote"), std::string::npos) << logs.back();
  ASSERT_EQ(validated.size(), 7u);
  for (const auto& [name, n] : validated) EXPECT_EQ(n, 1) << name;
  // The same split as kfold_splits of the sorted names (what nnU-Net writes).
  std::vector<std::string> names;
  for (const auto& c : ds.cases) names.push_back(c.name);
  EXPECT_EQ(to_splits_json(training::kfold_splits(names, 3)), written);
}

// A splits.json made elsewhere (nnU-Net's, or edited by hand) is used as it is; one naming an
// unknown case, or with another fold count, is an error naming the file.
TEST(TrainSplits, ExistingSplitsJsonIsReadAndChecked) {
  fs::path d = test::fresh_dir("train_splits_existing");
  Dataset ds = blob_dataset(d, 4);
  std::vector<DataSplit> mine = {{{"blob_000", "blob_001"}, {"blob_003"}},
                                 {{"blob_002", "blob_003"}, {"blob_000", "blob_001"}}};
  test::write_text(d / "splits.json", to_splits_json(mine));
  auto quiet = [](const std::string&) {};
  DataSplit s = training::fold_split(ds, fold_config(1, 2), quiet);
  EXPECT_EQ(s.train, mine[1].train);
  EXPECT_EQ(s.val, mine[1].val);
  std::string logged;
  s = training::fold_split(ds, fold_config(0, 2),
                           [&](const std::string& l) { logged += l + "\n"; });
  EXPECT_EQ(s.val, std::vector<std::string>{"blob_003"});  // blob_002 is in neither list: unused
  EXPECT_NE(logged.find("1 case(s) of the dataset in neither list of fold 0 in " +
                        (d / "splits.json").string() + ": not used"),
            std::string::npos)
      << logged;
  test::expect_error([&] { training::fold_split(ds, fold_config(0, 5), quiet); },
                     "splits.json has 2 folds, train.folds is 5");

  mine[1].val.push_back("liver_7");
  test::write_text(d / "splits.json", to_splits_json(mine));
  test::expect_error([&] { training::fold_split(ds, fold_config(0, 2), quiet); },
                     (d / "splits.json").string() + ": fold 1 names case 'liver_7', which is not "
                                                    "in the dataset");
  test::write_text(d / "splits.json", "[{\"train\": [\"blob_000\"]}]");
  test::expect_error([&] { training::fold_split(ds, fold_config(0, 1 + 1), quiet); },
                     "splits.json[0]: missing key 'val'");
}

// A classifier's stratified folds are kept like a U-Net's: written to DIR/splits.json (beside a
// CSV: NAME_splits.json) at the first fold, read by the others, so an image added in between
// changes no fold (it is in no list: unused, and the log says so).
TEST(TrainSplits, ClassifierFoldsAreKeptInASplitsFile) {
  const fs::path d = test::make_shapes("train_splits_classes", 6, 3);
  training::ClassDataset ds = training::scan_class_dataset(d.string(), {});
  std::vector<std::string> names;
  std::vector<int> labels;
  for (const training::ClassItem& it : ds.items)
    names.push_back(it.name), labels.push_back(it.label);
  const std::vector<DataSplit> expect = training::stratified_kfold_splits(names, labels, 3);
  std::string logged;
  auto log = [&](const std::string& l) { logged += l + "\n"; };
  DataSplit s = training::class_fold_split(ds, fold_config(0, 3), log);
  ASSERT_TRUE(fs::exists(d / "splits.json")) << logged;
  EXPECT_EQ(read_file((d / "splits.json").string()), to_splits_json(expect));
  EXPECT_EQ(s.val, expect[0].val);
  EXPECT_NE(logged.find("cross-validation: wrote " + (d / "splits.json").string()),
            std::string::npos)
      << logged;

  fs::copy_file(d / "disc" / "img0.png", d / "disc" / "added.png");
  ds = training::scan_class_dataset(d.string(), {});
  logged.clear();
  s = training::class_fold_split(ds, fold_config(1, 3), log);
  EXPECT_EQ(s.val, expect[1].val);
  EXPECT_EQ(s.train, expect[1].train);
  EXPECT_NE(logged.find("1 image(s) of the dataset in neither list of fold 1"), std::string::npos)
      << logged;

  // A CSV dataset: NAME_splits.json beside it; an image the file names that the CSV lacks is an
  // error naming the file.
  std::string csv = "image,label\n";
  for (const training::ClassItem& it : ds.items)
    csv += it.name + "," + ds.classes[size_t(it.label)] + "\n";
  test::write_text(d / "items.csv", csv);
  training::ClassDataset from_csv = training::scan_class_dataset((d / "items.csv").string(), {});
  EXPECT_EQ(training::class_splits_path(from_csv), (d / "items_splits.json").string());
  training::class_fold_split(from_csv, fold_config(2, 3), log);
  ASSERT_TRUE(fs::exists(d / "items_splits.json"));
  test::write_text(d / "items.csv",
                   "image,label\ndisc/img1.png,disc\nsquare/img1.png,square\n"
                   "disc/img2.png,disc\nsquare/img2.png,square\n");
  from_csv = training::scan_class_dataset((d / "items.csv").string(), {});
  test::expect_error([&] { training::class_fold_split(from_csv, fold_config(0, 3), log); },
                     (d / "items_splits.json").string() + ": fold 0 names image '");
}

TEST(TrainSplits, ConfigKeysAreChecked) {
  RunConfig r = test::tiny_run(2);
  r.train.fold = 1;
  r.train.folds = 3;
  RunConfig back = parse_run_config(to_json_string(r), "<string>");
  EXPECT_EQ(back.train.fold, 1);
  EXPECT_EQ(back.train.folds, 3);
  std::string text = to_json_string(r);
  auto with = [&](const std::string& from, const std::string& to) {
    std::string t = text;
    t.replace(t.find(from), from.size(), to);
    return t;
  };
  test::expect_error([&] { parse_run_config(with("\"fold\": 1", "\"fold\": 3"), "c.json"); },
                     "c.json: train.fold");
  test::expect_error([&] { parse_run_config(with("\"folds\": 3", "\"folds\": 1"), "c.json"); },
                     "c.json: train.folds");
  test::expect_error(
      [&] { parse_run_config(with("\"val_cases\": []", "\"val_cases\": [\"a\"]"), "c.json"); },
      "train.val_cases: contradicts train.fold 1");
}

// A fold trains through useg::train: its validation cases are the fold's, recorded in the
// checkpoint, and the run folder is the one asked for (run/fold_1).
TEST(TrainSplits, FoldTrains) {
  fs::path root = test::fresh_dir("train_splits_run");
  Dataset ds = blob_dataset(root / "data", 6);
  RunConfig run = test::tiny_run(2);
  run.train.epochs = 1;
  run.train.iterations_per_epoch = 1;
  run.train.fold = 1;
  run.train.folds = 3;
  TrainOptions o;
  o.data_dir = (root / "data").string();
  o.output_dir = (root / "run" / "fold_1").string();
  o.config = run;
  o.tty = 0;
  o.threads = 1;
  o.log = [](const std::string&) {};
  train(o);
  std::vector<std::string> names;
  for (const auto& c : ds.cases) names.push_back(c.name);
  DataSplit expect = training::kfold_splits(names, 3)[1];
  training::Checkpoint c =
      training::read_checkpoint((root / "run" / "fold_1" / "checkpoint.safetensors").string());
  EXPECT_EQ(c.val_cases, expect.val);
  EXPECT_EQ(c.train_cases, expect.train);
  EXPECT_TRUE(fs::exists(root / "run" / "fold_1" / "best" / "model.json"));
}

// The command line: --fold/--folds override the config's keys (the run trains fold 2 of 3 into
// the folder asked for); with --resume and no --config they are refused, since a resumed run
// keeps its fold.
TEST(TrainSplits, CommandLineFoldFlags) {
  fs::path root = test::fresh_dir("train_splits_cli");
  Dataset ds = blob_dataset(root / "data", 6);
  RunConfig run = test::tiny_run(2);
  run.train.epochs = 1;
  run.train.iterations_per_epoch = 1;
  test::write_text(root / "c.json", to_json_string(run));
  const std::string base = "train --config " + test::quote(root / "c.json") + " --data " +
                           test::quote(root / "data") + " --threads 1";
  auto r = test::run_useg(base + " --fold 2 --folds 3 --output " +
                          test::quote(root / "run" / "fold_2"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("training fold 2"), std::string::npos) << r.output;
  std::vector<std::string> names;
  for (const auto& c : ds.cases) names.push_back(c.name);
  training::Checkpoint c =
      training::read_checkpoint((root / "run" / "fold_2" / "checkpoint.safetensors").string());
  EXPECT_EQ(c.val_cases, training::kfold_splits(names, 3)[2].val);
  r = test::run_useg("train --resume --data " + test::quote(root / "data") + " --output " +
                     test::quote(root / "run" / "fold_2") + " --fold 2");
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("a resumed run keeps its fold"), std::string::npos) << r.output;
  r = test::run_useg(base + " --fold 3 --folds 3 --output " + test::quote(root / "run" / "x"));
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("train.fold"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace useg
