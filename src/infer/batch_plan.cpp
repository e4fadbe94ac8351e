// The case planner of `useg segment`: inputs -> this shard's cases -> per case: fails (why),
// skipped (outputs exist) or runs (and its output paths). See batch_plan.h.
#include "infer/batch_plan.h"

#include <filesystem>
#include <set>

#include "io/io_common.h"
#include "useg/error.h"
#include "core/files.h"

namespace fs = std::filesystem;

namespace useg::batch {

namespace {

// ".nii.gz" for --format nii.gz; with --format same the first input's (DICOM folders: NIfTI).
std::string output_extension(const BatchOptions& o, const BatchCase& c) {
  if (o.format != "same") return "." + o.format;
  std::string ext = c.files.empty() ? "" : io::image_extension(c.files.front());
  return ext.empty() ? ".nii.gz" : ext;
}

}  // namespace

std::string report_json_path(const BatchOptions& o) {
  if (!o.report.empty()) return o.report;
  std::string name = o.shard.count > 1 ? "report-shard-" + std::to_string(o.shard.index) +
                                             "-of-" + std::to_string(o.shard.count) + ".json"
                                       : "report.json";
  return (fs::path(o.output_dir) / name).string();
}

std::string report_csv_path(const std::string& json) {
  const std::string ext = ".json";
  if (json.size() > ext.size() && json.compare(json.size() - ext.size(), ext.size(), ext) == 0)
    return json.substr(0, json.size() - ext.size()) + ".csv";
  return json + ".csv";
}

BatchPlan plan_cases(const std::vector<BatchCase>& cases, const BatchOptions& o,
                     int num_classes) {
  BatchPlan plan;
  plan.cases = cases.size();
  BatchResult& result = plan.result;
  result.report_json = report_json_path(o);
  result.report_csv = report_csv_path(result.report_json);
  std::error_code ec;
  for (const BatchCase& c : cases) {
    CaseRecord r;
    r.id = c.id;
    r.inputs = c.files;
    PlannedCase p{result.cases.size(), c, {}};
    if (!c.problem.empty()) {
      r.status = "failed", r.error = c.problem;
    } else {
      std::string dir = c.rel_dir.empty() ? o.output_dir
                                          : (fs::path(o.output_dir) / c.rel_dir).string();
      p.outputs = case_outputs(dir, c.name, output_extension(o, c), num_classes, o.segment);
      r.outputs = p.outputs.all();
      bool all_exist = true, clobbers_input = false;
      for (const std::string& out : r.outputs) {
        all_exist = all_exist && fs::exists(out, ec);
        for (const std::string& in : c.files)
          clobbers_input = clobbers_input || fs::equivalent(out, in, ec);
      }
      if (clobbers_input)
        r.status = "failed", r.error = "an output would overwrite the input " + c.files.front() +
                                       "; choose another --output folder";
      else if (all_exist && !o.overwrite)
        r.status = "skipped";
      else
        plan.to_run.push_back(p);
    }
    result.failed += r.status == "failed";
    result.skipped += r.status == "skipped";
    result.cases.push_back(r);
  }
  return plan;
}

BatchPlan plan_batch(const BatchOptions& o, int num_classes) {
  std::vector<BatchCase> cases = select_shard(find_cases(o.inputs, o.recursive, o.output_dir),
                                              o.shard);
  std::error_code ec;
  fs::create_directories(o.output_dir, ec);
  if (ec) USEG_THROW("cannot create the output folder " << o.output_dir << ": " << ec.message());
  const std::string report = report_json_path(o);
  fs::path report_dir = fs::path(report).parent_path();
  if (!report_dir.empty()) fs::create_directories(report_dir, ec);
  if (ec) USEG_THROW("cannot create the folder of --report " << report << ": " << ec.message());
  return plan_cases(cases, o, num_classes);
}

void clean_stale_temp_files(const BatchPlan& plan,
                            const std::function<void(const std::string&)>& log) {
  fs::path report_dir = fs::path(plan.result.report_json).parent_path();
  std::set<std::string> folders{report_dir.empty() ? std::string(".") : report_dir.string()};
  for (const CaseRecord& r : plan.result.cases)
    for (const std::string& out : r.outputs) {
      fs::path parent = fs::path(out).parent_path();
      folders.insert(parent.empty() ? "." : parent.string());
    }
  for (const std::string& f : folders)
    if (size_t n = remove_stale_temp_files(f))
      log("removed " + std::to_string(n) + " temporary file(s) left by an interrupted run in " +
          f);
}

}  // namespace useg::batch
