// The case planner of `useg segment` (src/infer/batch_plan.h) on its own, without a model or a
// network: which cases fail (and why), are skipped, or run, and where their outputs go.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <sys/wait.h>
#include <unistd.h>

#include "common/image_fixtures.h"
#include "infer/batch_plan.h"
#include "core/files.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

void touch(const fs::path& p) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << "x";
}

BatchCase make_case(const std::string& name, std::vector<std::string> files,
                    const std::string& rel_dir = "") {
  BatchCase c;
  c.name = name;
  c.rel_dir = rel_dir;
  c.id = rel_dir.empty() ? name : rel_dir + "/" + name;
  c.files = std::move(files);
  return c;
}

BatchOptions options(const fs::path& out) {
  BatchOptions o;
  o.output_dir = out.string();
  return o;
}

TEST(SegmentPlan, FailedSkippedAndToRun) {
  const fs::path root = test::fresh_dir("segment_plan");
  const fs::path out = root / "out";
  for (const char* f : {"in/a.nii.gz", "in/b.nii.gz", "in/c.nii.gz", "in/p1/d.nrrd"}) touch(root / f);
  touch(out / "b.nii.gz");  // b: done by an earlier run
  touch(out / "c.nii.gz");  // c: its labels are there, no preview

  BatchCase bad = make_case("e", {});
  bad.problem = "e: channel files _0000, _0002 do not run _0000, _0001, ... without gaps";
  const std::vector<BatchCase> cases = {
      make_case("a", {(root / "in/a.nii.gz").string()}),
      make_case("b", {(root / "in/b.nii.gz").string()}),
      make_case("c", {(root / "in/c.nii.gz").string()}),
      make_case("d", {(root / "in/p1/d.nrrd").string()}, "p1"), bad};

  BatchOptions o = options(out);
  batch::BatchPlan plan = batch::plan_cases(cases, o, 3);
  ASSERT_EQ(plan.result.cases.size(), 5u);
  EXPECT_EQ(plan.cases, 5u);
  const auto& r = plan.result.cases;
  EXPECT_EQ(r[0].status, "pending");
  EXPECT_EQ(r[1].status, "skipped");
  EXPECT_EQ(r[2].status, "skipped");  // only the labels were asked for
  EXPECT_EQ(r[3].status, "pending");
  EXPECT_EQ(r[4].status, "failed");
  EXPECT_EQ(r[4].error, bad.problem);
  EXPECT_TRUE(r[4].outputs.empty());
  EXPECT_EQ(plan.result.failed, 1);
  EXPECT_EQ(plan.result.skipped, 2);
  EXPECT_EQ(plan.result.done, 0);
  // The cases that run point at their records, in order; a sub-folder is kept under --output.
  ASSERT_EQ(plan.to_run.size(), 2u);
  EXPECT_EQ(plan.to_run[0].record, 0u);
  EXPECT_EQ(plan.to_run[0].outputs.labels, (out / "a.nii.gz").string());
  EXPECT_EQ(plan.to_run[1].record, 3u);
  EXPECT_EQ(plan.to_run[1].c.id, "p1/d");
  EXPECT_EQ(plan.to_run[1].outputs.labels, (out / "p1" / "d.nii.gz").string());
  EXPECT_EQ(r[3].outputs, std::vector<std::string>{(out / "p1" / "d.nii.gz").string()});
  EXPECT_EQ(r[0].inputs, cases[0].files);
  EXPECT_EQ(plan.result.report_json, (out / "report.json").string());
  EXPECT_EQ(plan.result.report_csv, (out / "report.csv").string());

  // A flag that asks for more outputs runs the cases missing them.
  o.segment.preview = true;
  plan = batch::plan_cases(cases, o, 3);
  EXPECT_EQ(plan.result.cases[2].status, "pending");
  EXPECT_EQ(plan.result.cases[2].outputs,
            (std::vector<std::string>{(out / "c.nii.gz").string(), (out / "c_preview.png").string()}));
  // --overwrite runs every case that can run.
  o.segment.preview = false;
  o.overwrite = true;
  plan = batch::plan_cases(cases, o, 3);
  EXPECT_EQ(plan.to_run.size(), 4u);
  EXPECT_EQ(plan.result.skipped, 0);
  EXPECT_EQ(plan.result.failed, 1);
}

TEST(SegmentPlan, OutputsThatWouldOverwriteAnInputFail) {
  const fs::path root = test::fresh_dir("segment_plan_clobber");
  touch(root / "scans" / "a.nii.gz");
  touch(root / "scans" / "b_0000.nrrd");
  touch(root / "scans" / "b_0001.nrrd");
  // --format same into the input folder: a.nii.gz would be written over itself.
  BatchOptions o = options(root / "scans");
  o.format = "same";
  const std::vector<BatchCase> cases = {
      make_case("a", {(root / "scans/a.nii.gz").string()}),
      make_case("b", {(root / "scans/b_0000.nrrd").string(), (root / "scans/b_0001.nrrd").string()})};
  batch::BatchPlan plan = batch::plan_cases(cases, o, 2);
  EXPECT_EQ(plan.result.cases[0].status, "failed");
  EXPECT_EQ(plan.result.cases[0].error,
            "an output would overwrite the input " + cases[0].files[0] +
                "; choose another --output folder");
  EXPECT_EQ(plan.result.cases[1].status, "pending");  // b.nrrd is not one of its inputs
  EXPECT_EQ(plan.to_run.size(), 1u);
  // Even with --overwrite, and even when the output exists (it is the input).
  o.overwrite = true;
  plan = batch::plan_cases(cases, o, 2);
  EXPECT_EQ(plan.result.cases[0].status, "failed");
  // Probabilities of a 2-class model: one file per class, each checked against the inputs.
  o.format = "nii.gz";
  o.segment.save_probabilities = true;
  touch(root / "scans" / "x_prob_1.nii.gz");
  const std::vector<BatchCase> prob_case = {
      make_case("x", {(root / "scans/x_prob_1.nii.gz").string()})};
  plan = batch::plan_cases(prob_case, o, 2);
  EXPECT_EQ(plan.result.cases[0].status, "failed");
  EXPECT_EQ(plan.result.cases[0].outputs.size(), 3u);
}

TEST(SegmentPlan, PlanBatchFindsShardsAndNamesReports) {
  const fs::path root = test::fresh_dir("segment_plan_batch");
  for (const char* f : {"in/a.nii.gz", "in/b_0000.nii.gz", "in/b_0002.nii.gz", "in/c.mha",
                        "in/sub/d.nrrd", "in/sub/e.png"})
    touch(root / f);
  BatchOptions o = options(root / "out" / "seg");
  o.inputs = {(root / "in").string()};
  o.recursive = true;
  batch::BatchPlan plan = batch::plan_batch(o, 2);
  EXPECT_TRUE(fs::is_directory(root / "out" / "seg"));
  std::vector<std::string> ids, status;
  for (const CaseRecord& r : plan.result.cases) ids.push_back(r.id), status.push_back(r.status);
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "b", "c", "sub/d", "sub/e"}));
  EXPECT_EQ(status, (std::vector<std::string>{"pending", "failed", "pending", "pending", "pending"}));
  EXPECT_EQ(plan.result.cases[1].error.rfind("b: channel files _0000", 0), 0u)
      << plan.result.cases[1].error;
  EXPECT_NE(plan.result.cases[1].error.find("_0002"), std::string::npos);

  // Shard 1 of 2 takes cases 1 and 3 of the sorted list; its report has its own name.
  o.shard.index = 1, o.shard.count = 2, o.shard.source = "--shard";
  plan = batch::plan_batch(o, 2);
  ids.clear();
  for (const CaseRecord& r : plan.result.cases) ids.push_back(r.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"b", "sub/d"}));
  EXPECT_EQ(plan.cases, 2u);
  EXPECT_EQ(plan.to_run.size(), 1u);
  EXPECT_EQ(plan.result.report_json, (root / "out" / "seg" / "report-shard-1-of-2.json").string());
  EXPECT_EQ(plan.result.report_csv, (root / "out" / "seg" / "report-shard-1-of-2.csv").string());

  // --report elsewhere: its folder is created; a name without .json gets .csv appended.
  o.report = (root / "reports" / "run1").string();
  plan = batch::plan_batch(o, 2);
  EXPECT_TRUE(fs::is_directory(root / "reports"));
  EXPECT_EQ(plan.result.report_csv, (root / "reports" / "run1.csv").string());
}

TEST(SegmentPlan, CleansStaleTemporaryFilesInTheFoldersItWritesTo) {
  const fs::path root = test::fresh_dir("segment_plan_temps");
  touch(root / "in" / "a.nii.gz");
  touch(root / "in" / "sub" / "b.nii.gz");
  BatchOptions o = options(root / "out");
  o.inputs = {(root / "in").string()};
  o.recursive = true;
  o.report = (root / "reports" / "r.json").string();
  // A pid that is not running: a child that has exited and been reaped.
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  int st = 0;
  ::waitpid(child, &st, 0);
  auto temp_of = [&](const fs::path& final_path, long pid) {
    std::string t = temp_path_for(final_path.string());
    std::string mine = "-" + std::to_string(::getpid()) + "-";
    size_t at = t.rfind(mine);
    return fs::path(t.substr(0, at) + "-" + std::to_string(pid) + "-" + t.substr(at + mine.size()));
  };
  const fs::path dead_report = temp_of(root / "reports" / "r.json", child);
  const fs::path dead_case = temp_of(root / "out" / "sub" / "b.nii.gz", child);
  const fs::path live = temp_of(root / "out" / "a.nii.gz", ::getpid());
  const fs::path elsewhere = temp_of(root / "other" / "a.nii.gz", child);  // not written to
  for (const fs::path& p : {dead_report, dead_case, live, elsewhere}) touch(p);

  batch::BatchPlan plan = batch::plan_batch(o, 2);
  std::vector<std::string> lines;
  batch::clean_stale_temp_files(plan, [&](const std::string& l) { lines.push_back(l); });
  EXPECT_FALSE(fs::exists(dead_report));
  EXPECT_FALSE(fs::exists(dead_case));
  EXPECT_TRUE(fs::exists(live));
  EXPECT_TRUE(fs::exists(elsewhere));
  const std::string what = "removed 1 temporary file(s) left by an interrupted run in ";
  EXPECT_EQ(lines, (std::vector<std::string>{what + (root / "out" / "sub").string(),
                                             what + (root / "reports").string()}));
}

}  // namespace
}  // namespace useg
