// The read -> compute -> write pipeline of `useg segment` (batch_pipeline.h): a reader thread, the
// compute loop and a writer thread, handing cases over through one-slot handoffs.
#include "infer/batch_pipeline.h"

#include <algorithm>
#include <chrono>
#include <new>
#include <sstream>
#include <thread>

#include "infer/handoff.h"
#include "useg/error.h"
#include "core/files.h"
#include "io/image_checks.h"

namespace useg::batch {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct ReadItem {
  size_t index;  // into the planned cases
  Image image;
  std::string error;
  int64_t nonfinite = 0;  // NaN/Inf voxels replaced after reading
};
struct WriteItem {
  size_t index;
  Image image;
  Segmentation seg;
};

std::string gib(int64_t bytes) {
  std::ostringstream os;
  os.precision(3);
  os << double(bytes) / double(int64_t(1) << 30) << " GiB";
  return os.str();
}

// The memory estimate of a case on `g` with `channels` channels (`so`: --diameter auto at its
// finest grid): the largest of the groups' own estimates (each on its network grid; a group of
// several models adds their widest activations and its window batch's probability sum), the
// weights of every model, and with several groups the running sum of their probabilities on the
// input grid.
MemoryEstimate case_memory(const Geometry& g, int channels, const std::vector<ModelGroup>& groups,
                           const SegmentOptions& so) {
  MemoryEstimate total;
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    const ModelGroup& group = groups[gi];
    const ModelInfo ci = case_model_info(group.info, g, so);
    MemoryEstimate e = estimate_case_memory(g, network_grid(g, ci), channels, ci, so);
    if (group.nets.size() > 1) {
      const WindowOptions w = window_options(ci, so);
      for (const Network* net : group.nets) {
        ModelInfo member = ci;
        member.model = net->config();
        e.activation_bytes = std::max(e.activation_bytes, activation_bytes(member, w));
      }
      e.activation_bytes +=
          int64_t(4) * w.batch * ci.model.num_classes * w.patch[0] * w.patch[1] * w.patch[2];
    }
    for (size_t i = 1; i < group.nets.size(); ++i)
      e.weight_bytes += int64_t(4) * group.nets[i]->num_parameters();
    if (gi == 0 ||
        e.image_bytes + e.activation_bytes > total.image_bytes + total.activation_bytes) {
      total.image_bytes = e.image_bytes;
      total.activation_bytes = e.activation_bytes;
    }
    total.weight_bytes += e.weight_bytes;
  }
  if (groups.size() > 1)
    total.image_bytes += int64_t(4) * groups[0].info.model.num_classes * g.voxels();
  return total;
}

// Reads one case with the limits and checks the memory estimate from the headers first.
// NaN and infinite voxels are replaced by their channel's minimum finite value; `nonfinite`
// gets their count.
Image read_case(const BatchCase& c, const BatchOptions& o, const std::vector<ModelGroup>& groups,
                int64_t* nonfinite) {
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
    SegmentOptions so = o.segment;  // --diameter auto: its finest grid
    if (so.auto_diameter) so.diameter = groups[0].info.instances.diameter * kAutoDiameterSmallest;
    const MemoryEstimate e = case_memory(g, channels, groups, so);
    if (e.total() > o.max_memory)
      USEG_THROW(c.files.front() << ": segmenting " << g.str() << " with " << channels
                                 << " channel(s) needs about " << gib(e.total())
                                 << " (images " << gib(e.image_bytes) << " + activations "
                                 << gib(e.activation_bytes) << " + weights "
                                 << gib(e.weight_bytes) << "), more than --max-memory "
                                 << gib(o.max_memory));
  }
  Image image = read_image_channels(c.files, limits);
  for (const ModelGroup& group : groups) check_segmentable(image, group.info);
  *nonfinite = replace_non_finite(image);
  return image;
}

}  // namespace

void run_pipeline(const std::vector<PlannedCase>& cases, const BatchOptions& o,
                  const std::vector<ModelGroup>& groups, ReportSink& sink, Progress& progress) {
  const ModelInfo& info = groups.at(0).info;
  auto finish = [&](size_t index, const std::string& error, double write_seconds) {
    sink.finish_case(cases[index].record, error, write_seconds, cases[index].outputs.labels);
  };
  detail::Handoff<ReadItem> to_compute;
  detail::Handoff<WriteItem> to_writer;

  std::thread reader([&] {
    for (size_t i = 0; i < cases.size(); ++i) {
      to_compute.wait_empty();  // at most one case read ahead
      ReadItem item{i, {}, sink.disk_full_error()};
      auto t = Clock::now();
      try {
        if (item.error.empty()) item.image = read_case(cases[i].c, o, groups, &item.nonfinite);
      } catch (const std::bad_alloc&) {
        item.error = cases[i].c.files.front() + ": out of memory while reading";
      } catch (const std::exception& e) {
        item.error = e.what();
      }
      sink.case_read(cases[i].record, since(t), item.image, item.nonfinite);
      if (!to_compute.put(std::move(item))) break;
    }
    to_compute.close();
  });

  std::thread writer([&] {
    while (auto item = to_writer.take()) {
      auto t = Clock::now();
      std::string error;
      try {
        write_segmentation(item->image, item->seg, info, cases[item->index].outputs,
                           cases[item->index].c.id);
      } catch (const std::bad_alloc&) {
        error = "out of memory while writing the outputs";
      } catch (const DiskFullError& e) {
        error = e.what();
        sink.disk_full(error);
      } catch (const std::exception& e) {
        error = e.what();
      }
      double s = since(t);
      const size_t index = item->index;
      *item = WriteItem{};  // free the case before the slot is released
      finish(index, error, s);
      to_writer.release();
    }
  });

  // The compute loop.
  while (auto item = to_compute.take()) {
    ReadItem in = std::move(*item);
    to_compute.release();  // the reader may start on the next case
    if (in.error.empty()) in.error = sink.disk_full_error();
    if (!in.error.empty()) {
      finish(in.index, in.error, 0);
      continue;
    }
    // With saved probabilities the writer's copy must be gone before the next accumulators.
    if (o.segment.save_probabilities) to_writer.wait_empty();
    auto t = Clock::now();
    try {
      const std::string& id = cases[in.index].c.id;
      Segmentation seg = segment_image(in.image, groups, o.segment,
                                       [&](int64_t done, int64_t total) {
                                         progress.update(sink.finished(),
                                                         id + ": window batch " +
                                                             std::to_string(done) + "/" +
                                                             std::to_string(total));
                                       });
      sink.case_computed(cases[in.index].record, since(t),
                         o.segment.auto_diameter ? seg.diameter : 0, seg.diameter_passes);
      to_writer.put(WriteItem{in.index, std::move(in.image), std::move(seg)});
    } catch (const std::bad_alloc&) {
      finish(in.index, in.image.source + ": out of memory while segmenting", 0);
    } catch (const std::exception& e) {
      finish(in.index, e.what(), 0);
    }
  }
  to_writer.close();
  writer.join();
  reader.join();
}

}  // namespace useg::batch
