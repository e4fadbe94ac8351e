// The report sink of `useg segment`: records, case lines and the report files, under one lock
// (report_sink.h).
#include "infer/report_sink.h"

#include <sstream>

#include <sstream>

#include "core/files.h"

namespace useg::batch {

ReportSink::ReportSink(const BatchOptions& opts, BatchResult result, size_t to_run,
                       Progress& progress, Clock::time_point start)
    : m_opts(opts), m_progress(progress), m_start(start), m_to_run(to_run),
      m_result(std::move(result)) {}

void ReportSink::write_report() {
  std::lock_guard<std::mutex> lock(m_mutex);
  write_report_locked();
}

void ReportSink::write_report_locked() {
  m_result.seconds = std::chrono::duration<double>(Clock::now() - m_start).count();
  try {
    write_file_atomic(m_result.report_json, batch_report_json(m_opts, m_result));
    write_file_atomic(m_result.report_csv, batch_report_csv(m_result));
  } catch (const DiskFullError& e) {
    if (m_disk_full.empty()) m_disk_full = e.what();
    m_progress.log(std::string("useg: warning: ") + e.what());
  } catch (const std::exception& e) {
    m_progress.log(std::string("useg: warning: ") + e.what());
  }
}

void ReportSink::case_read(size_t record, double seconds, const Image& image,
                           int64_t nonfinite) {
  std::lock_guard<std::mutex> lock(m_mutex);
  CaseRecord& r = m_result.cases[record];
  r.read_seconds = seconds;
  r.nonfinite_voxels = nonfinite;
  if (image.voxels.defined()) {
    r.has_geometry = true;
    r.geometry = image.geometry;
    r.channels = image.channels();
  }
  if (nonfinite > 0)
    m_progress.log("useg: warning: " + r.id + ": " + std::to_string(nonfinite) +
                   " NaN or infinite voxel" + (nonfinite == 1 ? "" : "s") + " in " +
                   image.source +
                   ", replaced by the channel's minimum finite value (report: nonfinite_voxels)");
}

void ReportSink::case_computed(size_t record, double seconds, double diameter, int passes) {
  std::lock_guard<std::mutex> lock(m_mutex);
  CaseRecord& r = m_result.cases[record];
  r.compute_seconds = seconds;
  r.diameter = diameter;
  if (diameter > 0) {
    std::ostringstream os;
    os << r.id << ": objects' diameter " << diameter << " mm (--diameter auto, " << passes
       << " pass" << (passes == 1 ? "" : "es") << ")";
    m_progress.log(os.str());
  }
}

void ReportSink::disk_full(const std::string& error) {
  std::lock_guard<std::mutex> lock(m_mutex);
  if (m_disk_full.empty()) m_disk_full = error;
}

std::string ReportSink::disk_full_error() {
  std::lock_guard<std::mutex> lock(m_mutex);
  return m_disk_full.empty() ? "" : "not segmented: the disk is full (" + m_disk_full + ")";
}

int64_t ReportSink::finished() {
  std::lock_guard<std::mutex> lock(m_mutex);
  return m_finished;
}

void ReportSink::finish_case(size_t record, const std::string& error, double write_seconds,
                             const std::string& labels_path) {
  std::lock_guard<std::mutex> lock(m_mutex);
  CaseRecord& r = m_result.cases[record];
  r.write_seconds = write_seconds;
  ++m_finished;
  std::ostringstream line;
  line << "[" << m_finished << "/" << m_to_run << "] " << r.id << ": ";
  if (error.empty()) {
    r.status = "done";
    ++m_result.done;
    line << "done in " << format_duration(r.seconds());
    if (r.has_geometry) {
      const Geometry& g = r.geometry;
      line << " (" << g.size[0] << "x" << g.size[1];
      if (g.dims == 3) line << "x" << g.size[2];
      line << ", " << g.spacing[0] << "x" << g.spacing[1];
      if (g.dims == 3) line << "x" << g.spacing[2];
      line << " mm)";
    }
    line << " -> " << labels_path;
  } else {
    r.status = "failed";
    r.error = error;
    ++m_result.failed;
    line << "FAILED: " << error;
  }
  m_progress.log(line.str());
  m_progress.update(m_finished, r.id);
  write_report_locked();
}

BatchResult ReportSink::result() {
  std::lock_guard<std::mutex> lock(m_mutex);
  return m_result;
}

}  // namespace useg::batch
