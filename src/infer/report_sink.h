// The report sink of `useg segment` (private to src/infer): the one owner of the case records.
// The reader, compute and writer threads report to it; it updates the records, prints the case
// lines, and rewrites report.json and report.csv atomically, all under its own lock. It also
// remembers the first write that failed on a full disk: the cases not yet segmented then fail
// with that reason instead of being computed for nothing (docs/reliability.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include "util/progress.h"
#include "useg/segment.h"

namespace useg::batch {

class ReportSink {
 public:
  using Clock = std::chrono::steady_clock;
  // `result` holds a record per case (BatchPlan::result); `to_run` cases will finish through
  // finish_case. The report's "seconds" count from `start`.
  ReportSink(const BatchOptions& opts, BatchResult result, size_t to_run, Progress& progress,
             Clock::time_point start);

  // Rewrites report.json and report.csv (atomically). A failed write is a warning on the log,
  // never an error; one that failed for lack of space marks the disk full.
  void write_report();

  // The reader's time for a case, and the size, spacing and channels of what it read (when it
  // read an image); `nonfinite` NaN/Inf voxels were replaced (a warning on the log when > 0).
  void case_read(size_t record, double seconds, const Image& image, int64_t nonfinite = 0);
  // The compute loop's time for a case.
  // `diameter` > 0: the diameter --diameter auto chose for the case in `passes` passes (logged).
  void case_computed(size_t record, double seconds, double diameter = 0, int passes = 0);
  // A write failed for lack of space (DiskFullError's message); the first one is kept.
  void disk_full(const std::string& error);
  // "" while the disk is not known to be full, else the error for a case not yet segmented.
  std::string disk_full_error();
  // How many cases have finished (for the progress line).
  int64_t finished();

  // A case that ran is over: done when `error` is empty, else failed with it. Prints its line
  // ("[3/7] p1/ct: done in 41s (...) -> seg/p1/ct.nii.gz"), moves the progress line on and
  // rewrites the report.
  void finish_case(size_t record, const std::string& error, double write_seconds,
                   const std::string& labels_path);

  // The records at the end (after the last write_report).
  BatchResult result();

 private:
  void write_report_locked();

  const BatchOptions& m_opts;
  Progress& m_progress;
  const Clock::time_point m_start;
  const size_t m_to_run;
  std::mutex m_mutex;  // guards everything below and the report files
  BatchResult m_result;
  int64_t m_finished = 0;
  std::string m_disk_full;  // the first write that failed on a full disk
};

}  // namespace useg::batch
