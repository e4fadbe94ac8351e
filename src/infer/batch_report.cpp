// The batch report of `useg segment`: a JSON object (run settings + one entry per case) and a
// CSV with one row per case. Written by hand (src/config alone includes the JSON library, and
// this is a flat list of strings and numbers).
#include <cmath>
#include <cstdio>
#include <sstream>

#include "useg/segment.h"

namespace useg {

namespace {

std::string json_string(const std::string& s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\r': o += "\\r"; break;
      case '\t': o += "\\t"; break;
      default:
        if (c < 0x20) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", c);
          o += b;
        } else {
          o += static_cast<char>(c);
        }
    }
  }
  return o + "\"";
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char b[40];
  std::snprintf(b, sizeof b, "%.10g", v);
  return b;
}

std::string json_strings(const std::vector<std::string>& v) {
  std::string o = "[";
  for (size_t i = 0; i < v.size(); ++i) o += (i ? ", " : "") + json_string(v[i]);
  return o + "]";
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string o;
  for (size_t i = 0; i < v.size(); ++i) o += (i ? sep : "") + v[i];
  return o;
}

std::string xyz(const std::array<double, 3>& a, int dims, const char* sep) {
  std::string o;
  for (int i = 0; i < dims; ++i) o += (i ? sep : "") + json_number(a[size_t(i)]);
  return o;
}

std::string size_text(const Geometry& g, const char* sep) {
  std::string o;
  for (int i = 0; i < g.dims; ++i) o += (i ? sep : "") + std::to_string(g.size[size_t(i)]);
  return o;
}

}  // namespace

std::string batch_report_json(const BatchOptions& opts, const BatchResult& r) {
  int pending = 0;
  for (const CaseRecord& c : r.cases) pending += c.status == "pending";
  std::ostringstream os;
  os << "{\n  \"model\": " << json_string(opts.model_dir)
     << ",\n  \"output\": " << json_string(opts.output_dir)
     << ",\n  \"device\": " << json_string(device_name(opts.device))
     << ",\n  \"shard\": " << json_string(std::to_string(opts.shard.index) + "/" +
                                          std::to_string(opts.shard.count))
     << ",\n  \"counts\": {\"total\": " << r.cases.size() << ", \"done\": " << r.done
     << ", \"skipped\": " << r.skipped << ", \"failed\": " << r.failed
     << ", \"pending\": " << pending << "},\n  \"seconds\": " << json_number(r.seconds)
     << ",\n  \"cases\": [";
  for (size_t i = 0; i < r.cases.size(); ++i) {
    const CaseRecord& c = r.cases[i];
    os << (i ? "," : "") << "\n    {\"case\": " << json_string(c.id)
       << ", \"status\": " << json_string(c.status) << ", \"error\": " << json_string(c.error)
       << ",\n     \"inputs\": " << json_strings(c.inputs)
       << ",\n     \"outputs\": " << json_strings(c.outputs)
       << ",\n     \"seconds\": " << json_number(c.seconds())
       << ", \"read_seconds\": " << json_number(c.read_seconds)
       << ", \"compute_seconds\": " << json_number(c.compute_seconds)
       << ", \"write_seconds\": " << json_number(c.write_seconds);
    if (c.has_geometry)
      os << ",\n     \"size\": [" << size_text(c.geometry, ", ") << "], \"spacing\": ["
         << xyz(c.geometry.spacing, c.geometry.dims, ", ") << "], \"channels\": " << c.channels;
    else
      os << ",\n     \"size\": null, \"spacing\": null, \"channels\": null";
    os << "}";
  }
  os << "\n  ]\n}\n";
  return os.str();
}

std::string batch_report_csv(const BatchResult& r) {
  std::ostringstream os;
  os << "case,status,seconds,size,spacing_mm,channels,inputs,outputs,error\n";
  for (const CaseRecord& c : r.cases) {
    os << csv_field(c.id) << "," << c.status << "," << json_number(c.seconds()) << ",";
    if (c.has_geometry)
      os << size_text(c.geometry, "x") << "," << xyz(c.geometry.spacing, c.geometry.dims, "x")
         << "," << c.channels;
    else
      os << ",,";
    os << "," << csv_field(join(c.inputs, ";")) << "," << csv_field(join(c.outputs, ";")) << ","
       << csv_field(c.error) << "\n";
  }
  return os.str();
}

}  // namespace useg
