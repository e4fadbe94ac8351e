// Debian's ITK 5.2 was configured with GCC, and its generated itk_compiler_detection.h stops with
// "Unsupported compiler" under clang. The fuzz build (clang, for libFuzzer) force-includes this
// header first: it lets that file take its GCC branch (clang implements what it checks for),
// after which the include guard keeps it from being read again.
#pragma once
#if defined(__clang__) && defined(__cplusplus)
#pragma push_macro("__clang__")
#pragma push_macro("__GNUC__")
#pragma push_macro("__GNUC_MINOR__")
#undef __clang__
#undef __GNUC__
#undef __GNUC_MINOR__
#define __GNUC__ 12
#define __GNUC_MINOR__ 2
#include <itk_compiler_detection.h>
#pragma pop_macro("__GNUC_MINOR__")
#pragma pop_macro("__GNUC__")
#pragma pop_macro("__clang__")
#endif
