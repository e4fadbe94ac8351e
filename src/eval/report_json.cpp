// The JSON format of `useg eval` ("useg-eval-1", docs/eval.md). Numbers have the CSV's 10
// significant digits; those that are not finite (undefined metrics) are written as null.
#include "eval/report_json.h"

#include "eval/report_rows.h"

namespace useg {

namespace {

JsonValue number(double v) { return JsonValue::number(v, 10); }

JsonValue row_json(const report::Row& row) {
  JsonValue o = JsonValue::object();
  for (const report::Cell& c : row) o.set(c.name, c.is_text ? JsonValue(c.text) : number(c.value));
  return o;
}

JsonValue rows_json(const std::vector<report::Row>& rows) {
  JsonValue a = JsonValue::array();
  for (const report::Row& row : rows) a.push_back(row_json(row));
  return a;
}

}  // namespace

JsonValue eval_report_json(const EvalReport& r) {
  const EvalOptions& o = r.options;
  JsonValue j = JsonValue::object();
  j.set("format", "useg-eval-1")
      .set("mode", o.instances ? "instances" : "labels")
      .set("prediction", r.pred_path)
      .set("reference", r.ref_path);
  if (o.instances) {
    JsonValue thresholds = JsonValue::array();
    for (double t : o.iou_thresholds) thresholds.push_back(number(t));
    j.set("iou_thresholds", std::move(thresholds));
  } else {
    j.set("tolerance_mm", number(o.tolerance_mm)).set("surface_distances", o.distances);
  }
  JsonValue cases = JsonValue::array();
  for (const CaseResult& c : r.cases)
    cases.push_back(JsonValue::object()
                        .set("case", c.pair.name)
                        .set("prediction", c.pair.pred)
                        .set("reference", c.pair.ref)
                        .set("seconds", number(c.seconds))
                        .set("rows", rows_json(report::case_rows(c, o))));
  JsonValue failed = JsonValue::array();
  for (const auto& [name, error] : r.failed)
    failed.push_back(JsonValue::object().set("case", name).set("error", error));
  j.set("cases", std::move(cases))
      .set("summary", rows_json(report::summary_rows(r)))
      .set("failed", std::move(failed))
      .set("unmatched_predictions", r.unmatched_predictions)
      .set("missing_predictions", r.missing_predictions);
  return j;
}

std::string format_json(const EvalReport& r) { return eval_report_json(r).dump(); }

}  // namespace useg
