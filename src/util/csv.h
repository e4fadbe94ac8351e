// CSV as useg writes it (the segment and eval reports, measurements): fields quoted only when
// they must be, numbers with up to 10 significant digits.
#pragma once

#include <string>
#include <vector>

namespace useg {

// `s` as one CSV field: as it is, or in double quotes (inner quotes doubled) when it holds a
// comma, a quote or a line break.
std::string csv_field(const std::string& s);

// printf's "%.10g" (the shortest text within 10 significant digits: "2", "0.1234567891",
// "1e-05"); "nan", "inf", "-inf" for the values that are not finite.
std::string csv_number(double v);

// One CSV line as fields: separated by commas, a field in double quotes may hold commas ("" is a
// quote); each field trimmed of spaces and a trailing carriage return.
std::vector<std::string> csv_split(const std::string& line);

}  // namespace useg
