// expect_error: the call throws a useg::Error whose message contains `text` (tests of the
// messages users act on).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "useg/error.h"

namespace useg::test {

inline void expect_error(const std::function<void()>& f, const std::string& text) {
  try {
    f();
    ADD_FAILURE() << "expected a useg::Error containing: " << text;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos)
        << "message: " << e.what() << "\nexpected to contain: " << text;
  }
}

}  // namespace useg::test
