// `useg segment` as a batch tool, through the real binary: bad cases fail alone (exit 1) and are
// named in the report, a rerun resumes, shards cover every case once, DICOM folders are cases,
// usage errors exit 2 with a message saying what to fix.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <thread>

#include <signal.h>

#include "segment_test_util.h"
#include "useg/image.h"
#include "useg/segment.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

using test::quote;
using test::run_useg;

Geometry small_geometry() {
  Geometry g = test::oblique_geometry_3d();
  g.size = {12, 10, 6};
  return g;
}

std::string model3d(const fs::path& root) {
  return test::make_model(root / "model", test::ModelSpec{});
}

void write_case(const fs::path& p, int variant = 0) {
  Geometry g = small_geometry();
  Tensor v = test::pattern_volume(g);
  for (int64_t i = 0; i < v.numel(); ++i) v.data()[i] += 3.f * variant;
  write_image(p.string(), v, g, "float");
}

TEST(SegmentBatch, BadCasesFailAloneAndAreReported) {
  fs::path root = test::fresh_dir("segment_bad");
  std::string m = model3d(root);
  fs::path in = root / "in", out = root / "out";
  fs::create_directories(in);
  write_case(in / "good1.nii.gz", 1);
  write_case(in / "good2.nrrd", 2);
  write_case(in / "cut.nii.gz", 3);  // then truncated
  std::string bytes = read_file((in / "cut.nii.gz").string());
  { std::ofstream(in / "cut.nii.gz", std::ios::binary) << bytes.substr(0, bytes.size() / 2); }
  std::ofstream(in / "empty.nii.gz").close();
  write_case(in / "two_0000.nii.gz", 4);  // two channels for a one-channel model
  write_case(in / "two_0001.nii.gz", 5);
  write_case(in / "nan.nrrd", 6);  // a NaN voxel is no failure (NonFiniteVoxelsAreReplaced)

  auto r = run_useg("segment --model " + m + " --input " + quote(in) + " --output " + quote(out));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_TRUE(fs::exists(out / "good1.nii.gz"));
  EXPECT_TRUE(fs::exists(out / "good2.nii.gz"));
  for (const char* bad : {"cut.nii.gz", "empty.nii.gz", "two.nii.gz"})
    EXPECT_FALSE(fs::exists(out / bad)) << bad;
  auto report = test::read_report(out / "report.json");
  std::map<std::string, std::string> errors;
  for (const auto& c : report["cases"]) errors[c["case"]] = c["error"];
  auto st = test::report_statuses(report);
  EXPECT_EQ(st["good1"], "done");
  EXPECT_EQ(st["good2"], "done");
  for (const char* bad : {"cut", "empty", "two"}) EXPECT_EQ(st[bad], "failed") << bad;
  EXPECT_NE(errors["cut"].find("cut.nii.gz"), std::string::npos) << errors["cut"];
  EXPECT_NE(errors["cut"].find("truncated"), std::string::npos) << errors["cut"];
  EXPECT_NE(errors["empty"].find("empty.nii.gz"), std::string::npos) << errors["empty"];
  EXPECT_NE(errors["empty"].find("empty"), std::string::npos) << errors["empty"];
  EXPECT_NE(errors["two"].find("2 channel(s) but the model expects 1"), std::string::npos)
      << errors["two"];
  EXPECT_EQ(report["counts"]["failed"], 3);
  EXPECT_EQ(report["counts"]["done"], 3);
  // The summary names every failed case; the CSV has one row per case.
  for (const char* bad : {"cut:", "empty:", "two:"})
    EXPECT_NE(r.output.find(std::string("  ") + bad), std::string::npos) << r.output;
  std::string csv = read_file((out / "report.csv").string());
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 7);
}

// NaN and infinite voxels (in a NIfTI file, whose reader turns them into 0 unless useg puts
// them back) are replaced by the channel's minimum finite value before normalization: the case
// gives exactly the outputs of the same image with that value written in, the log warns and
// the report counts them (nonfinite_voxels).
TEST(SegmentBatch, NonFiniteVoxelsAreReplacedAndReported) {
  fs::path root = test::fresh_dir("segment_nonfinite");
  std::string m = model3d(root);
  fs::path in = root / "in", out = root / "out";
  fs::create_directories(in);
  Geometry g = small_geometry();
  Tensor v = test::pattern_volume(g);
  float lowest = v.data()[0];
  for (int64_t i = 0; i < v.numel(); ++i) lowest = std::min(lowest, v.data()[i]);
  Tensor dirty = v.clone(), replaced = v.clone();
  for (int64_t i : {int64_t(17), int64_t(40), int64_t(41)}) {
    dirty.data()[i] = i == 40 ? INFINITY : std::numeric_limits<float>::quiet_NaN();
    replaced.data()[i] = lowest;
  }
  write_image((in / "dirty.nii.gz").string(), dirty, g, "float");
  write_image((in / "replaced.nii.gz").string(), replaced, g, "float");
  auto r = run_useg("segment --model " + m + " --input " + quote(in) + " --output " + quote(out) +
                    " --save-probabilities");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("useg: warning: dirty: 3 NaN or infinite voxels in"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("replaced by the channel's minimum finite value"), std::string::npos);
  auto report = test::read_report(out / "report.json");
  std::map<std::string, int> count;
  for (const auto& c : report["cases"]) count[c["case"]] = c["nonfinite_voxels"];
  EXPECT_EQ(count["dirty"], 3);
  EXPECT_EQ(count["replaced"], 0);
  std::string csv = read_file((out / "report.csv").string());
  EXPECT_NE(csv.find("channels,nonfinite_voxels,"), std::string::npos) << csv;
  std::string row = csv.substr(csv.find("\ndirty,") + 1);
  row = row.substr(0, row.find('\n'));
  EXPECT_NE(row.find(",1,3,"), std::string::npos) << row;  // ...,channels 1,nonfinite 3,...
  EXPECT_EQ(read_image((out / "dirty.nii.gz").string()).voxels.to_vector(),
            read_image((out / "replaced.nii.gz").string()).voxels.to_vector());
  for (int k = 0; k < 3; ++k) {
    std::string suffix = "_prob_" + std::to_string(k) + ".nii.gz";
    EXPECT_EQ(read_image((out / ("dirty" + suffix)).string()).voxels.to_vector(),
              read_image((out / ("replaced" + suffix)).string()).voxels.to_vector()) << k;
  }
}

TEST(SegmentBatch, LimitsFailTheCaseNotTheBatch) {
  fs::path root = test::fresh_dir("segment_limits");
  std::string m = model3d(root);
  write_case(root / "a.nii.gz");
  auto r = run_useg("segment --model " + m + " --input " + quote(root / "a.nii.gz") +
                    " --output " + quote(root / "out") + " --max-voxels 100");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("a.nii.gz"), std::string::npos) << r.output;
  auto r2 = run_useg("segment --model " + m + " --input " + quote(root / "a.nii.gz") +
                     " --output " + quote(root / "out") + " --max-memory 1K");
  EXPECT_EQ(r2.code, 1) << r2.output;
  EXPECT_NE(r2.output.find("more than --max-memory"), std::string::npos) << r2.output;
  auto r3 = run_useg("segment --model " + m + " --input " + quote(root / "a.nii.gz") +
                     " --output " + quote(root / "out") + " --max-memory 2G");
  EXPECT_EQ(r3.code, 0) << r3.output;
}

TEST(SegmentBatch, RerunResumesOnlyMissingCases) {
  fs::path root = test::fresh_dir("segment_resume");
  std::string m = model3d(root);
  fs::path in = root / "in", out = root / "out";
  fs::create_directories(in / "sub");
  write_case(in / "a.nii.gz", 1);
  write_case(in / "b.nii.gz", 2);
  write_case(in / "sub" / "c.mha", 3);
  std::string cmd = "segment --model " + m + " --input " + quote(in) + " --output " + quote(out) +
                    " --recursive --preview";
  auto r1 = run_useg(cmd);
  ASSERT_EQ(r1.code, 0) << r1.output;
  std::vector<fs::path> outputs = {out / "a.nii.gz", out / "a_preview.png", out / "b.nii.gz",
                                   out / "sub" / "c.nii.gz", out / "sub" / "c_preview.png"};
  std::map<std::string, fs::file_time_type> mtimes;
  for (const auto& p : outputs) {
    ASSERT_TRUE(fs::exists(p)) << p;
    mtimes[p.string()] = fs::last_write_time(p);
  }
  EXPECT_EQ(test::report_statuses(test::read_report(out / "report.json")),
            (std::map<std::string, std::string>{{"a", "done"}, {"b", "done"}, {"sub/c", "done"}}));
  fs::remove(out / "b.nii.gz");
  auto r2 = run_useg(cmd);
  ASSERT_EQ(r2.code, 0) << r2.output;
  EXPECT_EQ(test::report_statuses(test::read_report(out / "report.json")),
            (std::map<std::string, std::string>{
                {"a", "skipped"}, {"b", "done"}, {"sub/c", "skipped"}}));
  EXPECT_NE(r2.output.find("a: skipped"), std::string::npos) << r2.output;
  EXPECT_NE(r2.output.find("[1/1] b: done"), std::string::npos) << r2.output;
  for (const auto& p : outputs) {
    if (p.filename() != "b.nii.gz") {
      EXPECT_EQ(fs::last_write_time(p), mtimes[p.string()]) << p;
    }
  }
  EXPECT_TRUE(fs::exists(out / "b.nii.gz"));
  // --overwrite recomputes everything; no temporary files are left behind.
  auto r3 = run_useg(cmd + " --overwrite");
  ASSERT_EQ(r3.code, 0) << r3.output;
  EXPECT_EQ(test::report_statuses(test::read_report(out / "report.json"))["a"], "done");
  for (const auto& e : fs::recursive_directory_iterator(out))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
}

// A run killed with SIGKILL mid-batch leaves a report that parses and tells the truth: every case
// it calls done has all its outputs, the others are pending; the same command then finishes the
// batch, skipping what was done.
TEST(SegmentBatch, KilledRunLeavesAConsistentReportAndResumes) {
  fs::path root = test::fresh_dir("segment_killed");
  std::string m = model3d(root);
  fs::path in = root / "in", out = root / "out";
  fs::create_directories(in);
  for (int i = 0; i < 8; ++i) write_case(in / ("k" + std::to_string(i) + ".nii.gz"), i);
  std::string args = "segment --model " + m + " --input " + quote(in) + " --output " + quote(out) +
                     " --preview";
  std::string launch = std::string(USEG_BINARY) + " " + args + " > " + quote(root / "log") +
                       " 2>&1 & echo $! > " + quote(root / "pid");
  ASSERT_EQ(std::system(launch.c_str()), 0);
  pid_t pid = 0;
  for (int i = 0; i < 100 && pid == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (fs::exists(root / "pid")) pid = std::atoi(read_file((root / "pid").string()).c_str());
  }
  ASSERT_GT(pid, 0);
  for (int i = 0; i < 3000; ++i) {  // up to 60 s for the first finished case
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!fs::exists(out / "report.json")) continue;
    if (test::read_report(out / "report.json")["counts"]["done"] >= 1) break;
  }
  ::kill(pid, SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto report = test::read_report(out / "report.json");
  int done = 0;
  for (const auto& c : report["cases"]) {
    std::string status = c["status"];
    EXPECT_TRUE(status == "done" || status == "pending") << c.dump();
    if (status != "done") continue;
    ++done;
    for (const auto& o : c["outputs"]) EXPECT_TRUE(fs::exists(std::string(o))) << o;
  }
  EXPECT_GE(done, 1);
  EXPECT_EQ(report["counts"]["done"], done);
  auto r = run_useg(args);
  ASSERT_EQ(r.code, 0) << r.output;
  auto after = test::report_statuses(test::read_report(out / "report.json"));
  ASSERT_EQ(after.size(), 8u);
  int skipped = 0;
  for (const auto& [id, status] : after) {
    EXPECT_TRUE(status == "done" || status == "skipped") << id;
    skipped += status == "skipped";
  }
  EXPECT_GE(skipped, done);
  for (int i = 0; i < 8; ++i) EXPECT_TRUE(fs::exists(out / ("k" + std::to_string(i) + ".nii.gz")));
}

TEST(SegmentBatch, ShardsCoverEveryCaseOnce) {
  fs::path root = test::fresh_dir("segment_shards");
  std::string m = model3d(root);
  fs::path in = root / "in", out = root / "out";
  fs::create_directories(in);
  for (int i = 0; i < 7; ++i) write_case(in / ("case" + std::to_string(i) + ".nii.gz"), i);
  std::multiset<std::string> seen;
  for (int s = 0; s < 3; ++s) {
    std::string args = "segment --model " + m + " --input " + quote(in) + " --output " + quote(out);
    // Shard 1 comes from a Slurm array's environment, the others from --shard.
    auto r = s == 1 ? run_useg(args, "SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=3")
                    : run_useg(args + " --shard " + std::to_string(s) + "/3");
    ASSERT_EQ(r.code, 0) << r.output;
    auto report = test::read_report(out / ("report-shard-" + std::to_string(s) + "-of-3.json"));
    for (const auto& [id, status] : test::report_statuses(report)) {
      EXPECT_EQ(status, "done") << id;
      seen.insert(id);
    }
  }
  std::multiset<std::string> all;
  for (int i = 0; i < 7; ++i) all.insert("case" + std::to_string(i));
  EXPECT_EQ(seen, all);
  for (int i = 0; i < 7; ++i) EXPECT_TRUE(fs::exists(out / ("case" + std::to_string(i) + ".nii.gz")));
}

TEST(SegmentBatch, ResolveShardFromFlagsAndEnvironment) {
  auto env = [](std::map<std::string, std::string> vars) {
    return [vars](const char* n) -> const char* {
      auto it = vars.find(n);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  };
  Shard s = resolve_shard("2/5", 0, env({}));
  EXPECT_EQ(s.index, 2);
  EXPECT_EQ(s.count, 5);
  s = resolve_shard("", 0, env({{"SLURM_ARRAY_TASK_ID", "4"}, {"SLURM_ARRAY_TASK_MIN", "1"},
                                {"SLURM_ARRAY_TASK_COUNT", "4"}}));
  EXPECT_EQ(s.index, 3);
  EXPECT_EQ(s.count, 4);
  s = resolve_shard("", 6, env({{"JOB_COMPLETION_INDEX", "5"}}));
  EXPECT_EQ(s.index, 5);
  EXPECT_EQ(s.count, 6);
  s = resolve_shard("", 0, env({}));
  EXPECT_EQ(s.count, 1);
  EXPECT_USEG_ERROR(resolve_shard("3/3", 0, env({})), "--shard expects I/N with 0 <= I < N");
  EXPECT_USEG_ERROR(resolve_shard("a/b", 0, env({})), "got 'a/b'");
  EXPECT_USEG_ERROR(resolve_shard("", 0, env({{"JOB_COMPLETION_INDEX", "1"}})), "--shards N");
  EXPECT_USEG_ERROR(resolve_shard("", 3, env({})), "needs a shard index");
  std::vector<BatchCase> cases(7);
  for (int i = 0; i < 7; ++i) cases[size_t(i)].id = std::to_string(i);
  auto part = select_shard(cases, Shard{1, 3, "--shard"});
  ASSERT_EQ(part.size(), 2u);
  EXPECT_EQ(part[0].id, "1");
  EXPECT_EQ(part[1].id, "4");
}

TEST(SegmentBatch, DicomSeriesIsOneCase) {
  fs::path root = test::fresh_dir("segment_dicom");
  std::string m = model3d(root);
  Geometry g = small_geometry();
  Tensor v = test::pattern_volume(g);
  for (int64_t i = 0; i < v.numel(); ++i) v.data()[i] = std::round(v.data()[i]);
  fs::create_directories(root / "in");
  write_dicom_series((root / "in" / "series1").string(), v, g);
  Image back = read_image((root / "in" / "series1").string());
  ASSERT_TRUE(back.geometry.same_as(g, 1e-4)) << back.geometry.str() << "\nvs\n" << g.str();
  auto r = run_useg("segment --model " + m + " --input " + quote(root / "in") + " --output " +
                    quote(root / "out") + " --format same");
  ASSERT_EQ(r.code, 0) << r.output;
  auto st = test::report_statuses(test::read_report(root / "out" / "report.json"));
  EXPECT_EQ(st, (std::map<std::string, std::string>{{"series1", "done"}}));
  Image labels = read_image((root / "out" / "series1.nii.gz").string());
  EXPECT_TRUE(labels.geometry.same_as(back.geometry)) << labels.geometry.str();
}

// --conv-algorithm reaches the CPU backend: Winograd (auto) and oneDNN's direct convolutions
// label the same case alike (their logits differ by float rounding only); an unknown value is
// refused by name.
TEST(SegmentBatch, ConvAlgorithmDirectAndAutoAgree) {
  fs::path root = test::fresh_dir("segment_conv_algorithm");
  test::ModelSpec spec;
  spec.base = 8;  // 8, 16, 32 channels: the inference plan runs it (base 4 goes per-op)
  std::string m = test::make_model(root / "model", spec);
  write_case(root / "a.nii.gz", 1);
  std::map<std::string, Image> labels;
  for (const char* alg : {"auto", "direct"}) {
    auto r = run_useg("segment --model " + m + " --input " + quote(root / "a.nii.gz") +
                      " --output " + quote(root / alg) + " --conv-algorithm " + alg);
    ASSERT_EQ(r.code, 0) << r.output;
    labels[alg] = read_image((root / alg / "a.nii.gz").string());
  }
  const Tensor& a = labels["auto"].voxels;
  const Tensor& d = labels["direct"].voxels;
  ASSERT_EQ(a.shape(), d.shape());
  int64_t differ = 0, foreground = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    differ += a.data()[i] != d.data()[i];
    foreground += a.data()[i] != 0;
  }
  EXPECT_EQ(differ, 0);
  EXPECT_GT(foreground, 0) << "a case with some foreground, so that agreement means something";
  auto r = run_useg("segment --model " + m + " --input " + quote(root / "a.nii.gz") +
                    " --output " + quote(root / "x") + " --conv-algorithm fft");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("--conv-algorithm: fft not in {auto,direct}"), std::string::npos)
      << r.output;
}

TEST(SegmentBatch, UsageErrorsExitTwo) {
  fs::path root = test::fresh_dir("segment_usage");
  std::string m = model3d(root);
  write_case(root / "a.nii.gz");
  fs::create_directories(root / "empty");
  const std::string in = " --input " + quote(root / "a.nii.gz") + " --output " + quote(root / "out");
  struct Case {
    std::string args, message;
  };
  std::vector<Case> cases = {
      {"segment --model " + quote(root / "nope") + in, "model folder"},
      {"segment --model " + m + in + " --shard 4/4", "--shard expects I/N with 0 <= I < N"},
      {"segment --model " + m + in + " --postprocess min-size=abc",
       "--postprocess: bad value 'min-size=abc'"},
      {"segment --model " + m + in + " --postprocess smooth", "unknown step 'smooth'"},
      {"segment --model " + m + in + " --postprocess largest=3",
       "--postprocess: postprocess step largest=3 names class 3, but the labels have classes 0 .. 2"},
      {"segment --model " + m + " --input " + quote(root / "empty") + " --output " +
           quote(root / "out"),
       "no images found in"},
      {"segment --model " + m + " --input " + quote(root / "missing.nii") + " --output " +
           quote(root / "out"),
       "does not exist"},
      {"segment --model " + m + in + " --overlap 1", "--overlap must be in [0, 1)"},
      {"segment --model " + m + in + " --format jpg", "--format 'jpg'"},
      {"segment --model " + m + in + " --device cuda", "CUDA"},
      {"segment --model " + m + in + " --precision bf16",
       "precision bf16 needs --device cuda: the CPU backend computes in float32 (expected fp32)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args);
    auto r = run_useg(c.args);
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << r.output;
  }
  // A build without CUDA says so (a CUDA build on a machine without a GPU: no CUDA device).
  auto r = run_useg("segment --model " + m + in + " --device cuda");
  EXPECT_TRUE(r.output.find("useg was built without CUDA") != std::string::npos ||
              r.output.find("no CUDA device found") != std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(root / "out" / "a.nii.gz"));
}

}  // namespace
}  // namespace useg
