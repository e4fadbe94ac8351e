// CSV as useg writes it (the segment and eval reports, measurements): fields quoted only when
// they must be, numbers with up to 10 significant digits.
#pragma once

#include <string>

namespace useg {

// `s` as one CSV field: as it is, or in double quotes (inner quotes doubled) when it holds a
// comma, a quote or a line break.
std::string csv_field(const std::string& s);

// printf's "%.10g" (the shortest text within 10 significant digits: "2", "0.1234567891",
// "1e-05"); "nan", "inf", "-inf" for the values that are not finite.
std::string csv_number(double v);

}  // namespace useg
