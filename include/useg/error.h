// Errors: every failure is a useg::Error whose message a user can act on (what failed, which
// file or key, what was expected). Library code never calls exit() or abort().
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace useg {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
[[noreturn]] void throw_check_failure(const char* cond, const char* file, int line,
                                      const std::string& msg);
}  // namespace detail

}  // namespace useg

// USEG_CHECK(cond, message << parts): throws useg::Error("message (check `cond` at file:line)").
// Use at the top of every op for shapes and arguments.
#define USEG_CHECK(cond, msg)                                                        \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::ostringstream useg_check_os_;                                             \
      useg_check_os_ << msg;                                                         \
      ::useg::detail::throw_check_failure(#cond, __FILE__, __LINE__, useg_check_os_.str()); \
    }                                                                                \
  } while (0)

// USEG_REQUIRE(cond, message << parts): throws useg::Error with exactly that
// message when `cond` is false. For what a user gives (files, configs, flags,
// runs): the message says what is wrong and where, and a source location would
// only be noise there. USEG_CHECK stays for the invariants of ops and kernels,
// where the location is what a developer needs.
#define USEG_REQUIRE(cond, msg)   \
  do {                            \
    if (!(cond)) USEG_THROW(msg); \
  } while (0)

// USEG_THROW(message << parts): throws useg::Error with exactly that message.
#define USEG_THROW(msg)                 \
  do {                                  \
    std::ostringstream useg_throw_os_;  \
    useg_throw_os_ << msg;              \
    throw ::useg::Error(useg_throw_os_.str()); \
  } while (0)
