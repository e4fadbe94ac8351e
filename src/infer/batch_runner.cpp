// The batch runner of `useg segment`: checks the options, loads the model, plans the cases
// (batch_plan.cpp), then runs the read -> compute -> write pipeline (batch_pipeline.cpp), with
// the report sink (report_sink.cpp) keeping the records and rewriting the report after every
// case.
#include <chrono>
#include <filesystem>
#include <sstream>

#include "infer/batch_pipeline.h"
#include "infer/batch_plan.h"
#include "infer/report_sink.h"
#include "useg/error.h"
#include "util/progress.h"
#include "useg/segment.h"

namespace fs = std::filesystem;

namespace useg {

namespace {

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

}  // namespace

BatchResult run_segment_batch(const BatchOptions& o) {
  const auto t_start = std::chrono::steady_clock::now();
  validate(o);
  std::error_code ec;
  std::vector<std::string> dirs{o.model_dir};
  dirs.insert(dirs.end(), o.ensemble.begin(), o.ensemble.end());
  for (const std::string& d : dirs)
    if (!fs::is_directory(d, ec))
      USEG_THROW("model folder " << d << " does not exist (expected a folder with "
                                         "model.json and weights.safetensors)");
  std::string why;
  if (!device_available(o.device, &why)) USEG_THROW(why);
  BackendOptions bo;
  bo.threads = o.threads;
  bo.precision = o.precision;
  bo.conv_algorithm = o.conv_algorithm;
  set_imaging_threads(o.threads);
  auto backend = make_backend(o.device, bo);
  // An ensemble: every model loaded up front, grouped into configurations (models that share
  // one sliding window); every model must give the first one's outputs.
  std::vector<LoadedModel> models;
  std::vector<ModelInfo> infos;
  for (const std::string& d : dirs) {
    models.push_back(load_model_dir(d, *backend));
    infos.push_back(models.back().info);
  }
  std::vector<ModelGroup> groups;
  BatchOptions run = o;
  for (const std::vector<size_t>& members : group_models(infos, dirs)) {
    groups.push_back(ModelGroup{infos[members.front()], {}});
    run.configurations.emplace_back();
    for (size_t m : members) {
      groups.back().nets.push_back(models[m].net.get());
      run.configurations.back().push_back(dirs[m]);
    }
  }
  const ModelInfo& info = groups.front().info;
  // The options as run (the report records them): mirroring and postprocessing from the flags,
  // else the first model's inference section. window_options also raises patch size errors as
  // model errors.
  run.segment.tta = window_options(info, o.segment).mirror;
  run.segment.postprocess = postprocess_steps(info, o.segment);
  for (const ModelGroup& g : groups) {
    window_options(g.info, o.segment);
    case_model_info(g.info, Geometry{}, o.segment);  // --diameter: not an instance model, no
                                                     // recorded diameter: refused
  }
  // An instance model's steps act on the objects' union (classes background, object).
  check_postprocess_classes(*run.segment.postprocess,
                            info.instance_target() ? 2 : info.model.num_classes,
                            o.segment.postprocess ? "--postprocess" : dirs.front() + "/model.json");

  batch::BatchPlan plan = batch::plan_batch(run, info.model.num_classes);
  Progress progress("segment", static_cast<int64_t>(plan.to_run.size()), o.tty);
  auto log = [&](const std::string& line) { progress.log(line); };
  batch::clean_stale_temp_files(plan, log);
  for (const CaseRecord& r : plan.result.cases) {
    if (r.status == "skipped")
      log(r.id + ": skipped (its outputs exist; --overwrite recomputes)");
    else if (r.status == "failed")
      log(r.id + ": FAILED: " + r.error);
  }
  if (o.shard.count > 1)
    log("shard " + std::to_string(o.shard.index) + "/" + std::to_string(o.shard.count) + " (" +
        o.shard.source + "): " + std::to_string(plan.cases) + " case(s), " +
        std::to_string(plan.to_run.size()) + " to segment");

  batch::ReportSink sink(run, std::move(plan.result), plan.to_run.size(), progress, t_start);
  sink.write_report();
  if (models.size() > 1) {
    std::string line = "ensemble of " + std::to_string(models.size()) + " models";
    if (groups.size() > 1) {
      line += " in " + std::to_string(groups.size()) +
              " configurations (each predicted on its own grid, then averaged on the input "
              "grid):";
      for (const ModelGroup& g : groups) {
        std::ostringstream os;
        os << " [" << g.info.model.dims << "D patch";
        for (int p : g.info.patch_size) os << " " << p;
        os << ", " << g.nets.size() << " model(s)]";
        line += os.str();
      }
    }
    log(line);
  }
  for (size_t i = 1; i < models.size(); ++i) {  // the first model's inference section applies
    const InferenceDefaults &a = info.inference, &b = models[i].info.inference;
    if (a.tta != b.tta || a.postprocess != b.postprocess)
      log("warning: " + dirs[i] + "/model.json's inference section differs from " + dirs.front() +
          "/model.json's; the ensemble follows the first model's");
  }
  if (!plan.to_run.empty())
    log(std::string("test-time mirroring ") + (*run.segment.tta ? "on" : "off") + " (" +
        (o.segment.tta ? (*o.segment.tta ? "--tta" : "--no-tta")
                       : "model.json inference.tta; --tta / --no-tta override it") +
        ")");
  if (!plan.to_run.empty() && o.segment.auto_diameter) {
    std::ostringstream os;
    os << "objects' diameter chosen for each image (--diameter auto): segmented at "
       << info.instances.diameter << " mm x 2.83, 2, 1.41, 1, 0.71, 0.5 (the model's objects: "
       << info.instances.diameter
       << " mm) until the objects found are at least 0.85 times the size asked";
    log(os.str());
  } else if (!plan.to_run.empty() && o.segment.diameter > 0) {
    std::ostringstream os;
    os << "objects of diameter " << o.segment.diameter << " mm: images resampled by "
       << o.segment.diameter / info.instances.diameter << " (the model's objects: "
       << info.instances.diameter << " mm, model.json instances.diameter)";
    log(os.str());
  }
  if (!plan.to_run.empty() && (o.segment.postprocess || !run.segment.postprocess->empty())) {
    std::string steps;
    for (const PostprocessStep& st : *run.segment.postprocess)
      steps += (steps.empty() ? "" : ", ") + st.text;
    log("postprocess: " + (steps.empty() ? std::string("none") : steps) + " (" +
        (o.segment.postprocess ? "--postprocess"
                               : "model.json inference.postprocess; --postprocess replaces it, "
                                 "--postprocess none turns it off") +
        ")");
  }
  batch::run_pipeline(plan.to_run, run, groups, sink, progress);
  progress.finish();
  sink.write_report();
  return sink.result();
}

}  // namespace useg
