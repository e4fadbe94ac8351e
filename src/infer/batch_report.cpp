// The batch report of `useg segment`: a JSON object (run settings + one entry per case) and a
// CSV with one row per case (docs/segment.md, "Report"). Numbers have 10 significant digits in
// both; in JSON a value that is not finite is null.
#include <sstream>

#include "config/json_writer.h"
#include "useg/segment.h"
#include "util/csv.h"

namespace useg {

namespace {

JsonValue number(double v) { return JsonValue::number(v, 10); }

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string o;
  for (size_t i = 0; i < v.size(); ++i) o += (i ? sep : "") + v[i];
  return o;
}

std::string xyz_text(const std::array<double, 3>& a, int dims) {
  std::string o;
  for (int i = 0; i < dims; ++i) o += (i ? "x" : "") + csv_number(a[size_t(i)]);
  return o;
}

std::string size_text(const Geometry& g) {
  std::string o;
  for (int i = 0; i < g.dims; ++i) o += (i ? "x" : "") + std::to_string(g.size[size_t(i)]);
  return o;
}

JsonValue case_json(const CaseRecord& c) {
  JsonValue j = JsonValue::object();
  j.set("case", c.id).set("status", c.status).set("error", c.error);
  j.set("inputs", c.inputs).set("outputs", c.outputs);
  j.set("seconds", number(c.seconds()))
      .set("read_seconds", number(c.read_seconds))
      .set("compute_seconds", number(c.compute_seconds))
      .set("write_seconds", number(c.write_seconds));
  if (!c.has_geometry) {  // not read (skipped, failed before reading, pending)
    j.set("size", nullptr).set("spacing", nullptr).set("channels", nullptr);
    j.set("nonfinite_voxels", nullptr);
    return j;
  }
  JsonValue size = JsonValue::array(), spacing = JsonValue::array();
  for (int i = 0; i < c.geometry.dims; ++i) {
    size.push_back(c.geometry.size[size_t(i)]);
    spacing.push_back(number(c.geometry.spacing[size_t(i)]));
  }
  j.set("size", std::move(size)).set("spacing", std::move(spacing)).set("channels", c.channels);
  j.set("nonfinite_voxels", c.nonfinite_voxels);
  if (c.diameter > 0) j.set("diameter", number(c.diameter));  // --diameter auto's choice
  return j;
}

// The steps as run (the runner resolves them), as written.
JsonValue postprocess_json(const SegmentOptions& s) {
  JsonValue steps = JsonValue::array();
  if (s.postprocess)
    for (const PostprocessStep& st : *s.postprocess) steps.push_back(st.text);
  return steps;
}

}  // namespace

std::string batch_report_json(const BatchOptions& opts, const BatchResult& r) {
  int pending = 0;
  for (const CaseRecord& c : r.cases) pending += c.status == "pending";
  JsonValue counts = JsonValue::object();
  counts.set("total", r.cases.size())
      .set("done", r.done)
      .set("skipped", r.skipped)
      .set("failed", r.failed)
      .set("pending", pending);
  JsonValue cases = JsonValue::array();
  for (const CaseRecord& c : r.cases) cases.push_back(case_json(c));
  JsonValue report = JsonValue::object();
  if (!opts.ensemble.empty()) {
    JsonValue models = JsonValue::array();
    models.push_back(opts.model_dir);
    for (const std::string& m : opts.ensemble) models.push_back(m);
    report.set("models", std::move(models));
  }
  if (opts.configurations.size() > 1) {
    JsonValue groups = JsonValue::array();
    for (const std::vector<std::string>& g : opts.configurations) {
      JsonValue members = JsonValue::array();
      for (const std::string& m : g) members.push_back(m);
      groups.push_back(std::move(members));
    }
    report.set("configurations", std::move(groups));
  }
  report.set("model", opts.model_dir)
      .set("output", opts.output_dir)
      .set("device", device_name(opts.device))
      .set("tta", opts.segment.tta.value_or(false))
      .set("postprocess", postprocess_json(opts.segment))
      .set("diameter", opts.segment.auto_diameter ? JsonValue("auto")
                       : opts.segment.diameter > 0  ? JsonValue(number(opts.segment.diameter))
                                                    : JsonValue(nullptr))
      .set("shard", std::to_string(opts.shard.index) + "/" + std::to_string(opts.shard.count))
      .set("counts", std::move(counts))
      .set("seconds", number(r.seconds))
      .set("cases", std::move(cases));
  return report.dump();
}

std::string batch_report_csv(const BatchResult& r) {
  std::ostringstream os;
  os << "case,status,seconds,size,spacing_mm,channels,nonfinite_voxels,inputs,outputs,error\n";
  for (const CaseRecord& c : r.cases) {
    os << csv_field(c.id) << "," << c.status << "," << csv_number(c.seconds()) << ",";
    if (c.has_geometry)
      os << size_text(c.geometry) << "," << xyz_text(c.geometry.spacing, c.geometry.dims) << ","
         << c.channels << "," << c.nonfinite_voxels;
    else
      os << ",,,";
    os << "," << csv_field(join(c.inputs, ";")) << "," << csv_field(join(c.outputs, ";")) << ","
       << csv_field(c.error) << "\n";
  }
  return os.str();
}

}  // namespace useg
