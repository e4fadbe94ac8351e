// The JSON format of `useg eval` (a small writer of its own: nlohmann/json stays in src/config).
// Numbers that are not finite (undefined metrics) are written as null.
#include <cmath>
#include <cstdio>
#include <sstream>

#include "eval/report_rows.h"

namespace useg {

namespace {

std::string quoted(const std::string& s) {
  std::string q = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        q += "\\\"";
        break;
      case '\\':
        q += "\\\\";
        break;
      case '\n':
        q += "\\n";
        break;
      case '\r':
        q += "\\r";
        break;
      case '\t':
        q += "\\t";
        break;
      default:
        if (c < 0x20) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", c);
          q += b;
        } else {
          q += static_cast<char>(c);
        }
    }
  }
  return q + "\"";
}

std::string number(double v) { return std::isfinite(v) ? report::number_text(v) : "null"; }

std::string object(const report::Row& row) {
  std::string s = "{";
  for (size_t k = 0; k < row.size(); ++k) {
    if (k) s += ", ";
    s += quoted(row[k].name) + ": " + (row[k].is_text ? quoted(row[k].text) : number(row[k].value));
  }
  return s + "}";
}

std::string string_list(const std::vector<std::string>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + quoted(v[i]);
  return s + "]";
}

}  // namespace

std::string format_json(const EvalReport& r) {
  const EvalOptions& o = r.options;
  std::ostringstream os;
  os << "{\n  \"format\": \"useg-eval-1\",\n";
  os << "  \"mode\": " << quoted(o.instances ? "instances" : "labels") << ",\n";
  os << "  \"prediction\": " << quoted(r.pred_path) << ",\n";
  os << "  \"reference\": " << quoted(r.ref_path) << ",\n";
  if (o.instances) {
    os << "  \"iou_thresholds\": [";
    for (size_t i = 0; i < o.iou_thresholds.size(); ++i)
      os << (i ? ", " : "") << number(o.iou_thresholds[i]);
    os << "],\n";
  } else {
    os << "  \"tolerance_mm\": " << number(o.tolerance_mm) << ",\n";
    os << "  \"surface_distances\": " << (o.distances ? "true" : "false") << ",\n";
  }
  os << "  \"cases\": [";
  for (size_t i = 0; i < r.cases.size(); ++i) {
    const CaseResult& c = r.cases[i];
    os << (i ? "," : "") << "\n    {\"case\": " << quoted(c.pair.name)
       << ", \"prediction\": " << quoted(c.pair.pred) << ", \"reference\": " << quoted(c.pair.ref)
       << ", \"seconds\": " << number(c.seconds) << ",\n     \"rows\": [";
    const auto rows = report::case_rows(c, o);
    for (size_t k = 0; k < rows.size(); ++k) os << (k ? "," : "") << "\n       " << object(rows[k]);
    os << "]}";
  }
  os << "\n  ],\n  \"summary\": [";
  const auto summary = report::summary_rows(r);
  for (size_t k = 0; k < summary.size(); ++k)
    os << (k ? "," : "") << "\n    " << object(summary[k]);
  os << "\n  ],\n  \"failed\": [";
  for (size_t i = 0; i < r.failed.size(); ++i)
    os << (i ? "," : "") << "\n    {\"case\": " << quoted(r.failed[i].first)
       << ", \"error\": " << quoted(r.failed[i].second) << "}";
  os << "\n  ],\n";
  os << "  \"unmatched_predictions\": " << string_list(r.unmatched_predictions) << ",\n";
  os << "  \"missing_predictions\": " << string_list(r.missing_predictions) << "\n}\n";
  return os.str();
}

}  // namespace useg
