// The CSV files useg writes (reports, measurements, metrics, eval rows), read back by the tests:
// a header line, then one map per row from column name to text. Fields hold no commas; an empty
// last field (a line ending in ',') counts. A row whose field count differs from the header's
// is a test failure.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace useg::test {

using CsvRow = std::map<std::string, std::string>;

inline std::vector<CsvRow> parse_csv(const std::string& text) {
  auto split = [](const std::string& s) {
    std::vector<std::string> v;
    std::stringstream ss(s);
    std::string f;
    while (std::getline(ss, f, ',')) v.push_back(f);
    if (!s.empty() && s.back() == ',') v.push_back("");
    return v;
  };
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  const std::vector<std::string> header = split(line);
  std::vector<CsvRow> rows;
  while (std::getline(in, line)) {
    const auto f = split(line);
    EXPECT_EQ(f.size(), header.size()) << line;
    CsvRow row;
    for (size_t k = 0; k < header.size() && k < f.size(); ++k) row[header[k]] = f[k];
    rows.push_back(row);
  }
  return rows;
}

}  // namespace useg::test
