// The messages users act on: expect_error (the call throws a useg::Error whose message contains
// `text`), error_of (the message itself, for several checks) and EXPECT_HAS (text contains a
// part, printing both when not).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <iostream>
#include <string>

#include "useg/error.h"

#define EXPECT_HAS(text, part)                                                       \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << "missing \"" << (part) \
                                                             << "\" in: " << (text)

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

// The message of the useg::Error `f` throws, also printed (test reports quote them); "" and a
// test failure when it throws none.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    std::cout << "    message: " << e.what() << "\n";
    return e.what();
  }
  ADD_FAILURE() << "no useg::Error thrown";
  return "";
}

}  // namespace useg::test
