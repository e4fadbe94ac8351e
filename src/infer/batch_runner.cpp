// The batch runner of `useg segment`: plans the cases (shard, skip finished ones), then runs
// three threads — a reader that prefetches one case, the compute loop on the backend, and a
// writer — handing cases over through one-slot handoffs, and rewrites the report atomically
// after every case.
#include <chrono>
#include <filesystem>
#include <mutex>
#include <new>
#include <set>
#include <sstream>
#include <thread>

#include "infer/handoff.h"
#include "io/io_common.h"
#include "useg/error.h"
#include "useg/files.h"
#include "useg/progress.h"
#include "useg/segment.h"

namespace fs = std::filesystem;

namespace useg {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct Planned {
  size_t record;  // index into BatchResult::cases
  BatchCase c;
  CaseOutputs outputs;
};
struct ReadItem {
  size_t plan;
  Image image;
  std::string error;
};
struct WriteItem {
  size_t plan;
  Image image;
  Segmentation seg;
};

void validate(const BatchOptions& o) {
  const SegmentOptions& s = o.segment;
  if (!(s.overlap >= 0 && s.overlap < 1))
    USEG_THROW("--overlap must be in [0, 1), got " << s.overlap);
  if (s.batch < 1) USEG_THROW("--batch must be at least 1, got " << s.batch);
  if (o.threads < 0) USEG_THROW("--threads must be 0 (all cores) or more, got " << o.threads);
  if (o.max_voxels < 0 || o.max_memory < 0)
    USEG_THROW("--max-voxels and --max-memory must be positive");
  if (o.output_dir.empty()) USEG_THROW("--output is required");
  static const char* formats[] = {"nii.gz", "nii", "nrrd", "nhdr", "mha", "mhd", "tif", "tiff",
                                  "png", "same"};
  bool ok = false;
  for (const char* f : formats) ok = ok || o.format == f;
  if (!ok)
    USEG_THROW("--format '" << o.format
                            << "' is not one of nii.gz, nii, nrrd, nhdr, mha, mhd, tif, tiff, png, "
                               "same");
}

std::string output_extension(const BatchOptions& o, const BatchCase& c) {
  if (o.format != "same") return "." + o.format;
  std::string ext = c.files.empty() ? "" : io::image_extension(c.files.front());
  return ext.empty() ? ".nii.gz" : ext;  // DICOM folders: NIfTI
}

std::string default_report(const BatchOptions& o) {
  if (!o.report.empty()) return o.report;
  std::string name = o.shard.count > 1 ? "report-shard-" + std::to_string(o.shard.index) +
                                             "-of-" + std::to_string(o.shard.count) + ".json"
                                       : "report.json";
  return (fs::path(o.output_dir) / name).string();
}

std::string csv_path_for(const std::string& json) {
  const std::string ext = ".json";
  if (json.size() > ext.size() && json.compare(json.size() - ext.size(), ext.size(), ext) == 0)
    return json.substr(0, json.size() - ext.size()) + ".csv";
  return json + ".csv";
}

std::string gib(int64_t bytes) {
  std::ostringstream os;
  os.precision(3);
  os << double(bytes) / double(int64_t(1) << 30) << " GiB";
  return os.str();
}

// Reads one case with the limits and checks the memory estimate from the headers first.
Image read_case(const BatchCase& c, const BatchOptions& o, const ModelInfo& info) {
  ReadLimits limits;
  if (o.max_voxels > 0) limits.max_voxels = o.max_voxels;
  if (o.max_memory > 0) limits.max_bytes = o.max_memory;
  if (o.max_memory > 0) {
    Geometry g;
    int channels = 0;
    for (const std::string& f : c.files) {
      ImageInfo h = read_image_info(f);
      g = h.geometry;
      channels += h.components;
    }
    MemoryEstimate e = estimate_case_memory(g, network_grid(g, info), channels, info, o.segment);
    if (e.total() > o.max_memory)
      USEG_THROW(c.files.front() << ": segmenting " << g.str() << " with " << channels
                                 << " channel(s) needs about " << gib(e.total())
                                 << " (images " << gib(e.image_bytes) << " + activations "
                                 << gib(e.activation_bytes) << " + weights "
                                 << gib(e.weight_bytes) << "), more than --max-memory "
                                 << gib(o.max_memory));
  }
  Image image = read_image_channels(c.files, limits);
  check_segmentable(image, info);
  return image;
}

}  // namespace

BatchResult run_segment_batch(const BatchOptions& o) {
  const auto t_start = Clock::now();
  validate(o);
  std::error_code ec;
  if (!fs::is_directory(o.model_dir, ec))
    USEG_THROW("model folder " << o.model_dir << " does not exist (expected a folder with "
                                                "model.json and weights.safetensors)");
  std::string why;
  if (!device_available(o.device, &why)) USEG_THROW(why);
  BackendOptions bo;
  bo.threads = o.threads;
  bo.precision = o.precision;
  bo.conv_algorithm = o.conv_algorithm;
  set_imaging_threads(o.threads);
  auto backend = make_backend(o.device, bo);
  LoadedModel model = load_model_dir(o.model_dir, *backend);
  const ModelInfo& info = model.info;
  window_options(info, o.segment);  // patch size errors are model errors

  std::vector<BatchCase> cases = select_shard(find_cases(o.inputs, o.recursive, o.output_dir),
                                              o.shard);
  fs::create_directories(o.output_dir, ec);
  if (ec) USEG_THROW("cannot create the output folder " << o.output_dir << ": " << ec.message());

  BatchResult result;
  result.report_json = default_report(o);
  result.report_csv = csv_path_for(result.report_json);
  fs::path report_dir = fs::path(result.report_json).parent_path();
  if (!report_dir.empty()) fs::create_directories(report_dir, ec);
  if (ec)
    USEG_THROW("cannot create the folder of --report " << result.report_json << ": "
                                                       << ec.message());
  std::vector<Planned> plan;
  for (const BatchCase& c : cases) {
    CaseRecord r;
    r.id = c.id;
    r.inputs = c.files;
    Planned p{result.cases.size(), c, {}};
    if (!c.problem.empty()) {
      r.status = "failed", r.error = c.problem;
    } else {
      std::string dir = c.rel_dir.empty() ? o.output_dir
                                          : (fs::path(o.output_dir) / c.rel_dir).string();
      p.outputs = case_outputs(dir, c.name, output_extension(o, c),
                               info.model.num_classes, o.segment);
      r.outputs = p.outputs.all();
      bool all_exist = true, clobbers_input = false;
      for (const std::string& out : r.outputs) {
        all_exist = all_exist && fs::exists(out, ec);
        for (const std::string& in : c.files)
          clobbers_input = clobbers_input || fs::equivalent(out, in, ec);
      }
      if (clobbers_input)
        r.status = "failed", r.error = "an output would overwrite the input " + c.files.front() +
                                       "; choose another --output folder";
      else if (all_exist && !o.overwrite)
        r.status = "skipped";
      else
        plan.push_back(p);
    }
    result.failed += r.status == "failed";
    result.skipped += r.status == "skipped";
    result.cases.push_back(r);
  }

  Progress progress("segment", static_cast<int64_t>(plan.size()), o.tty);
  std::mutex mutex;  // guards result, disk_full and the report files
  int64_t finished = 0;
  // Set by the first write that fails on a full disk: the cases not yet segmented then fail
  // with this message instead of being computed for nothing (docs/reliability.md).
  std::string disk_full;
  auto write_report_locked = [&] {
    result.seconds = since(t_start);
    try {
      write_file_atomic(result.report_json, batch_report_json(o, result));
      write_file_atomic(result.report_csv, batch_report_csv(result));
    } catch (const DiskFullError& e) {
      if (disk_full.empty()) disk_full = e.what();
      progress.log(std::string("useg: warning: ") + e.what());
    } catch (const std::exception& e) {
      progress.log(std::string("useg: warning: ") + e.what());
    }
  };
  auto disk_full_error = [&]() -> std::string {
    std::lock_guard<std::mutex> lock(mutex);
    return disk_full.empty() ? "" : "not segmented: the disk is full (" + disk_full + ")";
  };
  {
    std::lock_guard<std::mutex> lock(mutex);
    // Temporary files of runs that were killed (their process is gone) are removed here.
    std::set<std::string> folders{report_dir.empty() ? std::string(".") : report_dir.string()};
    for (const CaseRecord& r : result.cases)
      for (const std::string& out : r.outputs) {
        fs::path parent = fs::path(out).parent_path();
        folders.insert(parent.empty() ? "." : parent.string());
      }
    for (const std::string& f : folders)
      if (size_t n = remove_stale_temp_files(f))
        progress.log("removed " + std::to_string(n) +
                     " temporary file(s) left by an interrupted run in " + f);
    for (const CaseRecord& r : result.cases) {
      if (r.status == "skipped")
        progress.log(r.id + ": skipped (its outputs exist; --overwrite recomputes)");
      else if (r.status == "failed")
        progress.log(r.id + ": FAILED: " + r.error);
    }
    if (o.shard.count > 1)
      progress.log("shard " + std::to_string(o.shard.index) + "/" +
                   std::to_string(o.shard.count) + " (" + o.shard.source + "): " +
                   std::to_string(cases.size()) + " case(s), " + std::to_string(plan.size()) +
                   " to segment");
    write_report_locked();
  }
  auto finish_case = [&](size_t plan_index, const std::string& error, double write_s) {
    std::lock_guard<std::mutex> lock(mutex);
    CaseRecord& r = result.cases[plan[plan_index].record];
    r.write_seconds = write_s;
    ++finished;
    std::ostringstream line;
    line << "[" << finished << "/" << plan.size() << "] " << r.id << ": ";
    if (error.empty()) {
      r.status = "done";
      ++result.done;
      line << "done in " << format_duration(r.seconds());
      if (r.has_geometry) {
        const Geometry& g = r.geometry;
        line << " (" << g.size[0] << "x" << g.size[1];
        if (g.dims == 3) line << "x" << g.size[2];
        line << ", " << g.spacing[0] << "x" << g.spacing[1];
        if (g.dims == 3) line << "x" << g.spacing[2];
        line << " mm)";
      }
      line << " -> " << plan[plan_index].outputs.labels;
    } else {
      r.status = "failed";
      r.error = error;
      ++result.failed;
      line << "FAILED: " << error;
    }
    progress.log(line.str());
    progress.update(finished, r.id);
    write_report_locked();
  };

  detail::Handoff<ReadItem> to_compute;
  detail::Handoff<WriteItem> to_writer;
  std::thread reader([&] {
    for (size_t i = 0; i < plan.size(); ++i) {
      to_compute.wait_empty();  // at most one case read ahead
      ReadItem item{i, {}, disk_full_error()};
      auto t = Clock::now();
      try {
        if (item.error.empty()) item.image = read_case(plan[i].c, o, info);
      } catch (const std::bad_alloc&) {
        item.error = plan[i].c.files.front() + ": out of memory while reading";
      } catch (const std::exception& e) {
        item.error = e.what();
      }
      {
        std::lock_guard<std::mutex> lock(mutex);
        CaseRecord& r = result.cases[plan[i].record];
        r.read_seconds = since(t);
        if (item.image.voxels.defined()) {
          r.has_geometry = true;
          r.geometry = item.image.geometry;
          r.channels = item.image.channels();
        }
      }
      if (!to_compute.put(std::move(item))) break;
    }
    to_compute.close();
  });
  std::thread writer([&] {
    while (auto item = to_writer.take()) {
      auto t = Clock::now();
      std::string error;
      try {
        write_segmentation(item->image, item->seg, info, plan[item->plan].outputs,
                           plan[item->plan].c.id);
      } catch (const std::bad_alloc&) {
        error = "out of memory while writing the outputs";
      } catch (const DiskFullError& e) {
        error = e.what();
        std::lock_guard<std::mutex> lock(mutex);
        if (disk_full.empty()) disk_full = error;
      } catch (const std::exception& e) {
        error = e.what();
      }
      double s = since(t);
      const size_t index = item->plan;
      *item = WriteItem{};  // free the case before the slot is released
      finish_case(index, error, s);
      to_writer.release();
    }
  });
  while (auto item = to_compute.take()) {
    ReadItem in = std::move(*item);
    to_compute.release();  // the reader may start on the next case
    if (in.error.empty()) in.error = disk_full_error();
    if (!in.error.empty()) {
      finish_case(in.plan, in.error, 0);
      continue;
    }
    // With saved probabilities the writer's copy must be gone before the next accumulators.
    if (o.segment.save_probabilities) to_writer.wait_empty();
    auto t = Clock::now();
    try {
      const std::string& id = plan[in.plan].c.id;
      Segmentation seg = segment_image(in.image, info, *model.net, o.segment,
                                       [&](int64_t done, int64_t total) {
                                         int64_t f;
                                         {
                                           std::lock_guard<std::mutex> lock(mutex);
                                           f = finished;
                                         }
                                         progress.update(f, id + ": window batch " +
                                                                std::to_string(done) + "/" +
                                                                std::to_string(total));
                                       });
      {
        std::lock_guard<std::mutex> lock(mutex);
        result.cases[plan[in.plan].record].compute_seconds = since(t);
      }
      to_writer.put(WriteItem{in.plan, std::move(in.image), std::move(seg)});
    } catch (const std::bad_alloc&) {
      finish_case(in.plan, in.image.source + ": out of memory while segmenting", 0);
    } catch (const std::exception& e) {
      finish_case(in.plan, e.what(), 0);
    }
  }
  to_writer.close();
  writer.join();
  reader.join();
  progress.finish();
  std::lock_guard<std::mutex> lock(mutex);
  write_report_locked();
  return result;
}

}  // namespace useg
