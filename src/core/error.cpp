#include "useg/error.h"

namespace useg::detail {

void throw_check_failure(const char* cond, const char* file, int line, const std::string& msg) {
  std::ostringstream os;
  os << msg << " (check `" << cond << "` failed at " << file << ":" << line << ")";
  throw Error(os.str());
}

}  // namespace useg::detail
