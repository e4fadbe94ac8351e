// The rows of an eval report, built once and written as CSV or JSON (report.cpp,
// report_json.cpp), so the two formats always hold the same columns and values.
#pragma once

#include <string>
#include <vector>

#include "useg/eval.h"

namespace useg::report {

struct Cell {
  std::string name;
  bool is_text = false;
  std::string text;
  double value = 0;
};
using Row = std::vector<Cell>;

// One row per label (label mode) or threshold (instance mode) of a case.
std::vector<Row> case_rows(const CaseResult& c, const EvalOptions& opt);
// Label mode: one "mean" row per label. Instance mode: a "mean" and a "pooled" row per threshold.
std::vector<Row> summary_rows(const EvalReport& r);

}  // namespace useg::report
