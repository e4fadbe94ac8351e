// Report rows (per case, means) and the CSV and terminal formats of `useg eval`.
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <sstream>

#include "eval/report_rows.h"
#include "util/csv.h"

namespace useg::report {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Cell num(const char* name, double v) { return Cell{name, false, "", v}; }
Cell txt(const char* name, const std::string& s) { return Cell{name, true, s, 0}; }

Row label_row(const std::string& case_name, const LabelMetrics& m) {
  const OverlapCounts& c = m.counts;
  return {txt("case", case_name),
          num("label", m.label),
          num("ref_voxels", static_cast<double>(c.ref)),
          num("pred_voxels", static_cast<double>(c.pred)),
          num("tp", static_cast<double>(c.tp)),
          num("fp", static_cast<double>(c.fp())),
          num("fn", static_cast<double>(c.fn())),
          num("ref_mm3", m.ref_mm3),
          num("pred_mm3", m.pred_mm3),
          num("dice", m.dice),
          num("iou", m.iou),
          num("precision", m.precision),
          num("recall", m.recall),
          num("vol_diff_mm3", m.vol_diff_mm3),
          num("vol_diff_rel", m.vol_diff_rel),
          num("hd_mm", m.hd),
          num("hd95_mm", m.hd95),
          num("assd_mm", m.assd),
          num("nsd", m.nsd),
          num("nsd_tol_mm", m.tolerance_mm),
          txt("flag", empty_case_name(m.empty))};
}

Row instance_row(const std::string& case_name, const InstanceScores& s) {
  return {txt("case", case_name),
          num("iou_threshold", s.threshold),
          num("n_ref", static_cast<double>(s.n_ref)),
          num("n_pred", static_cast<double>(s.n_pred)),
          num("tp", static_cast<double>(s.tp)),
          num("fp", static_cast<double>(s.fp)),
          num("fn", static_cast<double>(s.fn)),
          num("precision", s.precision),
          num("recall", s.recall),
          num("f1", s.f1),
          num("accuracy", s.accuracy),
          num("mean_matched_iou", s.mean_matched_iou),
          num("panoptic_quality", s.panoptic_quality)};
}

// Mean of every numeric cell over `rows` (same columns), ignoring NaN; a column with no defined
// value gives NaN. Text cells are taken from `first`.
Row mean_row(const std::vector<const Row*>& rows, const std::string& case_name) {
  Row out = *rows.front();
  out[0].text = case_name;
  for (size_t k = 1; k < out.size(); ++k) {
    if (out[k].is_text) continue;
    double sum = 0;
    int n = 0;
    for (const Row* r : rows)
      if (!std::isnan((*r)[k].value)) {
        sum += (*r)[k].value;
        ++n;
      }
    out[k].value = n ? sum / n : kNaN;
  }
  return out;
}

}  // namespace

// The row averaging `rows` (one per IoU threshold) over the thresholds: every numeric column
// is the mean, the iou_threshold cell reads "mean".
static Row over_thresholds(const std::vector<Row>& rows, const std::string& case_name) {
  std::vector<const Row*> ptrs;
  for (const Row& row : rows) ptrs.push_back(&row);
  Row out = mean_row(ptrs, case_name);
  out[1] = txt("iou_threshold", "mean");
  return out;
}

std::vector<Row> case_rows(const CaseResult& c, const EvalOptions& opt) {
  std::vector<Row> rows;
  if (opt.instances) {
    for (const InstanceScores& s : c.instances) rows.push_back(instance_row(c.pair.name, s));
    if (rows.size() > 1) rows.push_back(over_thresholds(rows, c.pair.name));
  } else {
    for (const LabelMetrics& m : c.labels) rows.push_back(label_row(c.pair.name, m));
  }
  return rows;
}

std::vector<Row> summary_rows(const EvalReport& r) {
  std::vector<Row> out;
  if (r.cases.empty()) return out;
  if (!r.options.instances) {
    std::map<int, std::vector<const LabelMetrics*>> by_label;
    for (const CaseResult& c : r.cases)
      for (const LabelMetrics& m : c.labels) by_label[m.label].push_back(&m);
    for (const auto& [label, ms] : by_label) {
      std::vector<Row> rows;
      int with_distances = 0;
      for (const LabelMetrics* m : ms) {
        rows.push_back(label_row("", *m));
        with_distances += std::isnan(m->hd) ? 0 : 1;
      }
      std::vector<const Row*> ptrs;
      for (const Row& row : rows) ptrs.push_back(&row);
      Row mean = mean_row(ptrs, "mean");
      std::ostringstream flag;
      flag << "cases=" << ms.size();
      if (with_distances < static_cast<int>(ms.size()))
        flag << " distances_over=" << with_distances;
      mean.back().text = flag.str();
      out.push_back(mean);
    }
    return out;
  }
  const size_t nt = r.options.iou_thresholds.size();
  std::vector<Row> means, pooleds;  // per threshold, for the rows over thresholds
  for (size_t t = 0; t < nt; ++t) {
    std::vector<Row> rows;
    InstanceScores pooled;
    pooled.threshold = r.options.iou_thresholds[t];
    for (const CaseResult& c : r.cases) {
      if (t >= c.instances.size()) continue;
      const InstanceScores& s = c.instances[t];
      rows.push_back(instance_row("", s));
      add_instance_counts(pooled, s);
    }
    if (rows.empty()) continue;
    finish_instance_scores(pooled);
    std::vector<const Row*> ptrs;
    for (const Row& row : rows) ptrs.push_back(&row);
    means.push_back(mean_row(ptrs, "mean"));
    pooleds.push_back(instance_row("pooled", pooled));
    out.push_back(means.back());
    out.push_back(pooleds.back());
  }
  if (means.size() > 1) {
    out.push_back(over_thresholds(means, "mean"));
    out.push_back(over_thresholds(pooleds, "pooled"));
  }
  return out;
}

}  // namespace useg::report

namespace useg {

namespace {

void write_csv_row(std::ostringstream& os, const report::Row& row, bool header) {
  for (size_t k = 0; k < row.size(); ++k) {
    if (k) os << ",";
    const report::Cell& c = row[k];
    os << csv_field(header ? c.name : c.is_text ? c.text : csv_number(c.value));
  }
  os << "\n";
}

}  // namespace

std::string format_csv(const EvalReport& r) {
  std::vector<report::Row> rows;
  for (const CaseResult& c : r.cases)
    for (report::Row& row : report::case_rows(c, r.options)) rows.push_back(std::move(row));
  for (report::Row& row : report::summary_rows(r)) rows.push_back(std::move(row));
  std::ostringstream os;
  if (rows.empty()) {
    // Still a valid table: the header of the mode's columns.
    CaseResult dummy;
    if (r.options.instances)
      dummy.instances.emplace_back();
    else
      dummy.labels.emplace_back();
    write_csv_row(os, report::case_rows(dummy, r.options).front(), true);
    return os.str();
  }
  write_csv_row(os, rows.front(), true);
  for (const report::Row& row : rows) write_csv_row(os, row, false);
  return os.str();
}

std::string format_summary(const EvalReport& r) {
  std::ostringstream os;
  char b[256];
  for (const report::Row& row : report::summary_rows(r)) {
    auto get = [&row](const char* name) {
      for (const report::Cell& c : row)
        if (c.name == name) return c.value;
      return std::numeric_limits<double>::quiet_NaN();
    };
    if (r.options.instances) {
      const bool over = row[1].is_text;  // the mean over the thresholds
      char t[32] = "mean";
      if (!over) std::snprintf(t, sizeof t, "%g", get("iou_threshold"));
      std::snprintf(b, sizeof b,
                    "%-6s IoU%s%-4s  precision %.4f  recall %.4f  F1 %.4f  AP %.4f  PQ %.4f  "
                    "matched IoU %.4f  (TP %g FP %g FN %g)\n",
                    row[0].text.c_str(), over ? " " : ">=", t, get("precision"),
                    get("recall"), get("f1"), get("accuracy"), get("panoptic_quality"),
                    get("mean_matched_iou"), get("tp"), get("fp"), get("fn"));
    } else {
      std::snprintf(b, sizeof b,
                    "label %-3g Dice %.4f  IoU %.4f  HD95 %.3f mm  ASSD %.3f mm  NSD@%gmm %.4f  "
                    "(%s)\n",
                    get("label"), get("dice"), get("iou"), get("hd95_mm"), get("assd_mm"),
                    get("nsd_tol_mm"), get("nsd"), row.back().text.c_str());
    }
    os << b;
  }
  return os.str();
}

}  // namespace useg
