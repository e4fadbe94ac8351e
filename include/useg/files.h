// File helpers shared by every writer: atomic writes (temporary file in the same folder, fsync,
// rename) so an interrupted run never leaves a half-written file under its final name.
#pragma once

#include <string>

namespace useg {

// A temporary path next to `final_path` that keeps its extension (ITK picks the format from it):
// "out/case.nii.gz" -> "out/.case.tmp-<pid>-<n>.nii.gz".
std::string temp_path_for(const std::string& final_path);

// Renames `temp` onto `final_path` after fsync-ing the file (and the folder after the rename).
// Removes `temp` and throws naming `final_path` if anything fails.
void commit_temp_file(const std::string& temp, const std::string& final_path);

// Writes bytes atomically. Throws naming the file and the OS error (e.g. "No space left on
// device") on failure; the previous content of `path`, if any, is left untouched.
void write_file_atomic(const std::string& path, const std::string& bytes);

// Reads a whole file; throws naming the file when it cannot be read.
std::string read_file(const std::string& path);

// Test hook for full-disk handling: when the environment variable USEG_FAIL_WRITES_AFTER_BYTES
// is set to N, writes through write_file_atomic fail with ENOSPC once N bytes have been written
// in this process.
bool injected_write_failure(size_t bytes_about_to_write);

}  // namespace useg
