// Where the tests find the source tree's files (configs/, fuzz/), the test data (tests/data) and
// the `useg` binary: the paths CMake compiled in (USEG_BUILT_* in tests/CMakeLists.txt), unless
// the environment variable of the same name says otherwise. The bundle of scripts/bundle.sh
// ships the test binary without the build tree: scripts/gpu-check.sh points USEG_SOURCE_DIR,
// USEG_TEST_DATA and USEG_BINARY at the bundle's share/useg and bin/useg.
//
// tests/CMakeLists.txt force-includes this header into every source of useg_tests, so the tests
// keep writing `std::string(USEG_TEST_DATA) + "/golden"`; the macros now evaluate to a
// `const char*` (never a string literal: no literal concatenation).
#pragma once

#include <cstdlib>

namespace useg::test {

// The value of environment variable `name` if set and non-empty, else `built_in`.
inline const char* path_override(const char* name, const char* built_in) {
  const char* v = std::getenv(name);
  return v && *v ? v : built_in;
}

}  // namespace useg::test

#if defined(USEG_BUILT_TEST_DATA) && !defined(USEG_TEST_DATA)
#define USEG_TEST_DATA ::useg::test::path_override("USEG_TEST_DATA", USEG_BUILT_TEST_DATA)
#endif
#if defined(USEG_BUILT_SOURCE_DIR) && !defined(USEG_SOURCE_DIR)
#define USEG_SOURCE_DIR ::useg::test::path_override("USEG_SOURCE_DIR", USEG_BUILT_SOURCE_DIR)
#endif
#if defined(USEG_BUILT_BINARY) && !defined(USEG_BINARY)
#define USEG_BINARY ::useg::test::path_override("USEG_BINARY", USEG_BUILT_BINARY)
#endif
