// File helpers shared by every writer: atomic writes (temporary file in the same folder, fsync,
// rename) so an interrupted run never leaves a half-written file under its final name.
#pragma once

#include <cstddef>
#include <string>

#include "useg/error.h"

namespace useg {

// A write that failed because the file system is full (ENOSPC, EDQUOT, or an ITK/cairo write
// failure while the folder has no free space left). `useg segment` stops computing on it: the
// remaining cases fail with the same message (see docs/reliability.md).
class DiskFullError : public Error {
 public:
  explicit DiskFullError(const std::string& what) : Error(what) {}
};

// A temporary path next to `final_path` that keeps its extension (ITK picks the format from it):
// "out/case.nii.gz" -> "out/.case.tmp-<host>-<pid>-<n>.nii.gz". The host and pid let a later run
// tell a temporary file of a dead process (removable) from one of a live process, possibly on
// another node writing into the same shared folder (left alone).
std::string temp_path_for(const std::string& final_path);

// Removes the temporary files (and detached-header temporary folders) that temp_path_for names
// in `dir` (not recursive) whose process is gone: same host and no process with that pid. Files
// of other hosts are removed only when older than `foreign_age_hours` (0 = never). Returns how
// many entries were removed; never throws (an unreadable folder removes nothing).
size_t remove_stale_temp_files(const std::string& dir, double foreign_age_hours = 24 * 7);

// True when `name` (a file name, no folder) has the form temp_path_for gives.
bool is_temp_name(const std::string& name);

// Renames `temp` onto `final_path` after fsync-ing the file (and the folder after the rename).
// Removes `temp` and throws naming `final_path` if anything fails.
void commit_temp_file(const std::string& temp, const std::string& final_path);

// Writes bytes atomically. Throws naming the file and the OS error (e.g. "No space left on
// device") on failure; the previous content of `path`, if any, is left untouched.
void write_file_atomic(const std::string& path, const std::string& bytes);

// Reads a whole file; throws naming the file when it cannot be read.
std::string read_file(const std::string& path);

// Test hook for full-disk handling: when the environment variable USEG_FAIL_WRITES_AFTER_BYTES
// is set to N, writes fail with ENOSPC once N bytes have been written in this process. It covers
// write_file_atomic (reports, CSVs, model.json, safetensors weights and checkpoints) and, through
// check_external_write, files written by ITK (images) and cairo (previews).
bool injected_write_failure(size_t bytes_about_to_write);

// For writers we do not control byte by byte (ITK, cairo): call after they wrote `temp` for
// `final_path`. Counts the file's size against the injected limit above; throws DiskFullError
// naming `final_path` when the limit is passed.
void check_external_write(const std::string& temp, const std::string& final_path);

// Throws the error for a failed write of `final_path` whose library gave `reason`: a
// DiskFullError "cannot write P: No space left on device (N bytes free in FOLDER; REASON)" when
// the folder's file system is (nearly) full, else Error "cannot write P: REASON". Call it while
// the partial temporary file still exists (it is part of what filled the disk).
[[noreturn]] void throw_write_failure(const std::string& final_path, const std::string& reason);

}  // namespace useg
