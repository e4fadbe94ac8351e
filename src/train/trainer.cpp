// useg::train(): setting a run up (new or resumed) and the epoch/step loop.
#include "train/trainer.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <sstream>

#include "config/validate.h"
#include "train/loader.h"
#include "train/splits.h"
#include "train/rng.h"
#include "useg/error.h"
#include "core/files.h"

namespace fs = std::filesystem;

namespace useg {

TrainResult train(const TrainOptions& options) {
  training::Trainer t(options);
  return t.run();
}

namespace training {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string join(const std::vector<std::string>& v, size_t max_items = 8) {
  std::string s;
  for (size_t i = 0; i < v.size() && i < max_items; ++i) s += (i ? ", " : "") + v[i];
  if (v.size() > max_items) s += ", ...";
  return s;
}

// Validation cases: train.val_cases, or a seeded shuffle's first round(n * val_fraction) cases
// (at least 1, at most n - 1). Returned sorted.
std::vector<std::string> split_validation(const Dataset& ds, const TrainConfig& t) {
  std::vector<std::string> names;
  for (const DatasetCase& c : ds.cases) names.push_back(c.name);
  std::vector<std::string> val;
  if (!t.val_cases.empty()) {
    std::vector<std::string> unknown;
    for (const std::string& v : t.val_cases) {
      if (std::find(names.begin(), names.end(), v) == names.end()) unknown.push_back(v);
      else if (std::find(val.begin(), val.end(), v) == val.end()) val.push_back(v);
    }
    USEG_REQUIRE(unknown.empty(), "train.val_cases: " << join(unknown) << " not in the dataset "
                                                      << ds.dir << " (cases: " << join(names)
                                                      << ")");
    USEG_REQUIRE(val.size() < names.size(),
                 "train.val_cases holds every case of the dataset; "
                 "nothing is left to train on");
  } else if (t.val_fraction > 0 && names.size() >= 2) {
    long n = std::lround(double(names.size()) * t.val_fraction);
    n = std::clamp<long>(n, 1, long(names.size()) - 1);
    Rng rng(t.seed, Stream::Split, {});
    for (size_t i = names.size() - 1; i > 0; --i)
      std::swap(names[i], names[static_cast<size_t>(rng.below(int64_t(i) + 1))]);
    val.assign(names.begin(), names.begin() + n);
  }
  std::sort(val.begin(), val.end());
  return val;
}

}  // namespace

Trainer::Trainer(const TrainOptions& options) : m_opts(options) {}

Trainer::~Trainer() {
  if (m_lock_fd >= 0) ::close(m_lock_fd);
}

std::string Trainer::path(const std::string& name) const {
  return (fs::path(m_opts.output_dir) / name).string();
}

void Trainer::log(const std::string& line) {
  if (m_comm && !writer()) return;  // rank 0 speaks for the run; other ranks throw their errors
  if (m_opts.log) m_opts.log(line);
  else if (m_progress) m_progress->log(line);
  else std::fprintf(stderr, "%s\n", line.c_str());
}

// With several ranks this is a collective (every rank calls it at the same points): all stop
// when any was asked to.
bool Trainer::stop_requested() {
  if (m_comm && m_comm->size() > 1) return stop_requested_all();
  if (m_opts.stop && m_opts.stop->load() != 0) {
    m_signal = m_opts.stop->load();
    return true;
  }
  return m_opts.stop_after_steps > 0 && m_steps_this_process >= m_opts.stop_after_steps;
}

void Trainer::save_checkpoint() {
  std::string p = path("checkpoint.safetensors");
  m_state.loss_scale = m_scaler ? m_scaler->scale() : 0;  // the scaler's state, as of now
  m_state.loss_scale_good_steps = m_scaler ? m_scaler->good_steps() : 0;
  if (writer())
    write_checkpoint(p, *m_net, *m_opt, m_state, m_config_json, m_info_json, m_train_names,
                   m_val_names);
  std::ostringstream note;
  note << p << " (after epoch " << m_state.epoch;
  if (m_state.iteration > 0) note << " and " << m_state.iteration << " steps of epoch " << m_state.epoch + 1;
  note << ")";
  m_last_checkpoint_note = note.str();
}

// train.loss_scaling: "dynamic", "off", or "auto" = dynamic exactly when the convolutions run in
// fp16 (bf16 has float32's exponent range and needs no scaling, as in PyTorch's autocast).
// A resumed run continues with the scale its checkpoint saved.
void Trainer::setup_loss_scaling() {
  const std::string& mode = m_run.train.loss_scaling;
  if (mode == "off" || (mode == "auto" && m_opts.precision != "fp16")) {
    m_scaler.reset();
    return;
  }
  m_scaler = std::make_unique<LossScaler>(static_cast<float>(m_run.train.loss_scale_init));
  if (m_state.loss_scale > 0)
    m_scaler->restore(static_cast<float>(m_state.loss_scale),
                      static_cast<int>(m_state.loss_scale_good_steps));
  std::ostringstream os;
  os << "dynamic loss scaling (train.loss_scaling = " << mode << "): scale " << m_scaler->scale();
  log(os.str());
}

TrainResult Trainer::result(TrainResult::Status status) const {
  TrainResult r;
  r.status = status;
  r.stop_signal = m_signal;
  r.epochs_done = m_state.epoch;
  r.steps_done = m_state.steps_total;
  r.skipped_steps = m_state.skipped_total;
  r.loss_scale = m_state.loss_scale;
  r.last_train_loss = m_rows.empty() ? 0 : m_rows.back().train_loss;
  r.best_dice = m_state.best_dice;
  r.classifier = m_run.model.classifier();
  r.best_epoch = m_state.best_epoch;
  r.last_dice = m_state.last_dice;
  r.median_step_seconds = median(m_step_seconds);
  r.median_wait_seconds = median(m_wait_seconds);
  r.median_make_seconds = median(m_make_seconds);
  r.checkpoint = path("checkpoint.safetensors");
  return r;
}

void Trainer::make_model(uint64_t init_seed) {
  m_net = std::make_unique<Network>(m_run.model, *m_backend);
  m_net->init_weights(init_seed);
  const TrainConfig& t = m_run.train;
  OptimizerConfig oc;
  oc.type = t.optimizer;
  oc.momentum = t.momentum;
  oc.nesterov = t.nesterov;
  oc.weight_decay = t.weight_decay;
  m_opt = std::make_unique<Optimizer>(oc, m_net->parameters(), *m_backend);
  m_ds_weights = supervision_weights();
}

void Trainer::load_data() {
  std::vector<std::string>& train_names = m_train_names;
  log("training cases: " + std::to_string(train_names.size()) + ", validation cases: " +
      std::to_string(m_val_names.size()) +
      (m_val_names.empty() ? " (no validation: best/ is not written)" : " (" + join(m_val_names) + ")"));
  auto t0 = std::chrono::steady_clock::now();
  {
    Progress p("loading cases", int64_t(train_names.size() + m_val_names.size()), m_opts.tty);
    int64_t base = 0;
    auto cb = [&](int64_t done, int64_t) { p.update(base + done); };
    auto load = [&](const std::vector<std::string>& names) {
      return m_run.model.classifier()
                 ? load_class_items(m_class_data, m_info, names, cb)
                 : load_cases(m_dataset, m_info, names, m_run.train.seed, cb);
    };
    m_train_cases = load(train_names);
    base = int64_t(train_names.size());
    m_val_cases = load(m_val_names);
  }
  double bytes = 0;
  for (const auto* group : {&m_train_cases, &m_val_cases})
    for (const TrainingCase& c : *group) bytes += double(c.image.bytes()) + double(c.label.size());
  char line[160];
  std::snprintf(line, sizeof line, "preprocessed %zu cases in %.1f s; %.1f MB held in memory",
                m_train_cases.size() + m_val_cases.size(), seconds_since(t0), bytes / 1e6);
  log(line);
}

void Trainer::setup_new() {
  USEG_REQUIRE(m_opts.config.has_value(), "a new training run needs a config (--config)");
  std::string ckpt = path("checkpoint.safetensors");
  USEG_REQUIRE(!fs::exists(ckpt), m_opts.output_dir
                                      << " already holds a training run (checkpoint.safetensors): "
                                         "add --resume to continue it, or choose another --output");
  if (writer()) remove_stale_temporaries(m_opts.output_dir);
  m_run = *m_opts.config;
  if (m_opts.seed) m_run.train.seed = *m_opts.seed;
  validate_run_config(m_run, "config");
  m_config_json = to_json_string(m_run);
  std::vector<std::string> all;
  // A cross-validation fold: its lists, as the splits file gives them (items in neither list are
  // not used, as in nnU-Net).
  auto use_fold = [&](const DataSplit& s) {
    m_val_names = s.val;
    all = s.train;
    all.insert(all.end(), s.val.begin(), s.val.end());
  };
  if (m_run.model.classifier()) {
    m_class_data = scan_class_dataset(m_opts.data_dir, m_run.train.classes);
    log("classification data " + m_opts.data_dir + ": " +
        std::to_string(m_class_data.items.size()) + " images, classes " +
        join(m_class_data.classes, 32));
    m_info = plan_classifier_info(m_run, m_class_data, [this](const std::string& s) { log(s); });
    if (m_run.train.fold >= 0) {  // a stratified fold, kept in the dataset's splits file
      use_fold(
          class_fold_split(m_class_data, m_run.train, [this](const std::string& l) { log(l); }));
    } else {
      m_val_names = split_class_validation(m_class_data, m_run.train);
      for (const ClassItem& it : m_class_data.items) all.push_back(it.name);
    }
  } else {
    m_dataset = scan_dataset(m_opts.data_dir, m_opts.limits);
    log("dataset " + m_opts.data_dir + ": " + std::to_string(m_dataset.cases.size()) +
        " cases, channels " + join(m_dataset.meta.channel_names) + ", labels " +
        join(m_dataset.class_names(), 32));
    m_info = plan_model_info(m_run, m_dataset, m_run.train.seed,
                             [this](const std::string& s) { log(s); });
    if (m_run.train.fold >= 0) {
      use_fold(fold_split(m_dataset, m_run.train, [this](const std::string& l) { log(l); }));
    } else {
      m_val_names = split_validation(m_dataset, m_run.train);
      for (const DatasetCase& c : m_dataset.cases) all.push_back(c.name);
    }
  }
  m_info_json = to_json_string(m_info);
  m_train_names.clear();
  for (const std::string& name : all)
    if (std::find(m_val_names.begin(), m_val_names.end(), name) == m_val_names.end())
      m_train_names.push_back(name);
  if (writer()) write_file_atomic(path("config.json"), m_config_json + "\n");
  load_data();
  make_model(m_run.train.seed);
  m_state = TrainState{};
}

void Trainer::setup_resume() {
  std::string ckpt = path("checkpoint.safetensors");
  USEG_REQUIRE(fs::exists(ckpt), "--resume: " << m_opts.output_dir
                                              << " has no checkpoint.safetensors to resume from "
                                                 "(start a new run without --resume)");
  if (writer()) remove_stale_temporaries(m_opts.output_dir);
  Checkpoint c = read_checkpoint(ckpt);
  m_config_json = c.config_json;
  m_run = parse_run_config(c.config_json, ckpt + " (config)");
  if (m_opts.seed)
    USEG_REQUIRE(*m_opts.seed == m_run.train.seed,
                 "--seed " << *m_opts.seed << " differs from the run's seed " << m_run.train.seed
                           << "; a resumed run keeps its seed");
  if (m_opts.config) {
    RunConfig given = *m_opts.config;
    given.train.seed = m_run.train.seed;  // the run may have had --seed; compared above
    // Compared as parsed and written again: a run started by an older useg lacks keys added
    // since (their defaults then), which is no difference.
    USEG_REQUIRE(to_json_string(given) == to_json_string(m_run),
                 "--resume: the config given differs from the one the run started with ("
                     << path("config.json")
                     << "); a resumed run continues with its own config: "
                        "drop --config, or start a new run");
  }
  m_info_json = c.model_info_json;
  m_info = parse_model_info(c.model_info_json, ckpt + " (model_info)");
  m_val_names = c.val_cases;
  m_train_names = c.train_cases;
  if (!c.state.finished.empty()) {  // nothing to train: skip loading the data
    m_state = c.state;
    m_rows = parse_metrics_rows(m_state.metrics_rows, layout().class_names.size(), ckpt);
    return;
  }
  std::vector<std::string> now, labels;
  if (m_run.model.classifier()) {
    m_class_data = scan_class_dataset(m_opts.data_dir, m_run.train.classes);
    labels = m_class_data.classes;
    for (const ClassItem& it : m_class_data.items) now.push_back(it.name);
  } else {
    m_dataset = scan_dataset(m_opts.data_dir, m_opts.limits);
    labels = m_dataset.class_names();
    for (const DatasetCase& dc : m_dataset.cases) now.push_back(dc.name);
  }
  USEG_REQUIRE(labels == m_info.labels, "--resume: the dataset's labels ("
                                            << join(labels, 32) << ") differ from the run's ("
                                            << join(m_info.labels, 32) << ")");
  // The same cases as before (batches depend on their order and number).
  std::vector<std::string> before = c.train_cases;
  before.insert(before.end(), c.val_cases.begin(), c.val_cases.end());
  std::sort(before.begin(), before.end());
  if (now != before) {
    std::vector<std::string> added, removed;
    std::set_difference(now.begin(), now.end(), before.begin(), before.end(),
                        std::back_inserter(added));
    std::set_difference(before.begin(), before.end(), now.begin(), now.end(),
                        std::back_inserter(removed));
    USEG_THROW("--resume: the dataset's cases changed since the run started (added: "
               << (added.empty() ? "none" : join(added)) << "; removed: "
               << (removed.empty() ? "none" : join(removed))
               << "); a resumed run needs the same cases — restore them or start a new run");
  }
  load_data();
  make_model(m_run.train.seed);
  m_net->load_state(c.model, ckpt);
  m_opt->load_state(c.optimizer, c.optimizer_steps, ckpt);
  m_state = c.state;
  m_rows = parse_metrics_rows(m_state.metrics_rows, layout().class_names.size(), ckpt);
  std::ostringstream os;
  os << "resuming from " << ckpt << ": epoch " << m_state.epoch + 1 << ", step "
     << m_state.iteration << " of " << m_run.train.iterations_per_epoch;
  log(os.str());
}

// One process, or one rank of several (mpirun, srun): the same code path. A rank that throws
// ends the whole job with its message (the others would wait in a collective forever).
TrainResult Trainer::run() {
  m_comm = &dist::world();
  if (m_comm->size() == 1) return finish(run_process());
  if (!writer()) m_opts.tty = 0;  // no status line from the other ranks
  try {
    return finish(run_process());
  } catch (const std::exception& e) {
    m_comm->abort(e.what());  // ends every rank; does not return
  }
  return result(TrainResult::Status::Interrupted);  // not reached
}

TrainResult Trainer::run_process() {
  if (writer()) {
    std::error_code ec;
    fs::create_directories(m_opts.output_dir, ec);
    USEG_REQUIRE(!ec, "cannot create " << m_opts.output_dir << ": " << ec.message());
    std::string lock = path(".lock");
    m_lock_fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    USEG_REQUIRE(m_lock_fd >= 0, "cannot create " << lock);
    USEG_REQUIRE(::flock(m_lock_fd, LOCK_EX | LOCK_NB) == 0,
                 "another useg train is running in " << m_opts.output_dir);
  }
  // The device first: an unavailable one fails before minutes of loading.
  BackendOptions bo;
  bo.threads = m_opts.threads;
  bo.precision = m_opts.precision;
  if (m_opts.device == Device::CUDA) bo.cuda_device = rank_cuda_device();
  m_backend = make_backend(m_opts.device, bo);
  choose_communicator();
  if (m_opts.resume) setup_resume();
  else setup_new();
  if (m_data_parallel) check_ranks();
  if (!m_state.finished.empty()) {
    m_was_finished = true;
    log("the run in " + m_opts.output_dir + " has already finished (" + m_state.finished +
        " after " + std::to_string(m_state.epoch) + " epochs); nothing to do");
    return result(m_state.finished == "early_stopped" ? TrainResult::Status::EarlyStopped
                                                      : TrainResult::Status::Completed);
  }
  setup_loss_scaling();
  const TrainConfig& t = m_run.train;
  const int64_t iters = t.iterations_per_epoch;
  const int dims = m_run.model.dims, channels = m_run.model.in_channels;
  const bool classifier = m_run.model.classifier();
  const int classes = m_run.model.num_classes;
  const int rank = m_comm->rank(), ranks = m_comm->size();
  BatchLoader loader(
      [&](int64_t s) {
        return classifier ? make_class_batch(m_train_cases, t, dims, classes, s / iters, s % iters,
                                             rank, ranks)
                          : make_batch(m_train_cases, t, dims, channels, s / iters, s % iters,
                                       rank, ranks);
      },
      t.num_workers, int64_t(m_state.epoch) * iters + m_state.iteration, int64_t(t.epochs) * iters);
  const auto run_start = std::chrono::steady_clock::now();
  const int64_t total_steps = int64_t(t.epochs) * iters;
  while (m_state.epoch < t.epochs) {
    auto t0 = std::chrono::steady_clock::now();
    {
      Progress prog("epoch " + std::to_string(m_state.epoch + 1) + "/" + std::to_string(t.epochs),
                    iters, m_opts.tty);
      m_progress = &prog;
      while (m_state.iteration < iters) {
        const int64_t s = int64_t(m_state.epoch) * iters + m_state.iteration;
        Batch b = loader.next();
        m_wait_seconds.push_back(loader.last_wait_seconds());
        m_make_seconds.push_back(loader.make_seconds().back());
        step(b, s);
        ++m_state.iteration;
        ++m_state.steps_total;
        ++m_steps_this_process;
        // Run ETA: time per step so far in this process (validation and writes included) times
        // the steps left.
        char detail[128];
        double mean = m_state.epoch_loss_count ? m_state.epoch_loss_sum / m_state.epoch_loss_count
                                               : std::nan("");
        int64_t left = total_steps - (int64_t(m_state.epoch) * iters + m_state.iteration);
        double eta = seconds_since(run_start) / double(m_steps_this_process) * double(left);
        std::snprintf(detail, sizeof detail, "loss %.4f  lr %.3g  run ETA %s", mean,
                      m_state.epoch_last_lr, format_duration(eta).c_str());
        prog.update(m_state.iteration, detail);
        if (m_state.iteration < iters && stop_requested()) {
          m_state.epoch_seconds += seconds_since(t0);
          save_checkpoint();
          m_progress = nullptr;
          prog.finish();
          log("stopped after step " + std::to_string(m_state.iteration) + " of epoch " +
              std::to_string(m_state.epoch + 1) + "; checkpoint written: " +
              path("checkpoint.safetensors"));
          return result(TrainResult::Status::Interrupted);
        }
      }
      m_progress = nullptr;
    }
    m_state.epoch_seconds += seconds_since(t0);
    if (!end_epoch()) return result(TrainResult::Status::Interrupted);
    if (m_state.finished == "early_stopped") return result(TrainResult::Status::EarlyStopped);
    if (m_state.epoch < t.epochs && stop_requested()) {
      log("stopped at the end of epoch " + std::to_string(m_state.epoch) +
          "; checkpoint written: " + path("checkpoint.safetensors"));
      return result(TrainResult::Status::Interrupted);
    }
  }
  char line[512];
  double fastest = m_step_seconds.empty()
                       ? 0
                       : *std::min_element(m_step_seconds.begin(), m_step_seconds.end());
  std::snprintf(line, sizeof line,
                "finished %d epochs; step (forward, backward, update) median %.3f s, fastest "
                "%.3f s over %zu steps; median data wait %.3f s; making a batch (loading, "
                "cropping, augmentation, %s) median %.3f s",
                m_state.epoch, median(m_step_seconds), fastest, m_step_seconds.size(),
                median(m_wait_seconds),
                t.num_workers > 0 ? (std::to_string(t.num_workers) + " worker thread(s)").c_str()
                                  : "on the training thread",
                median(m_make_seconds));
  log(line);
  if (!m_reduce_seconds.empty()) {
    const double early = double(m_early_segments) / double(m_reduce_seconds.size());
    std::snprintf(line, sizeof line,
                  "gradient all-reduce over %d rank%s (%s): %.1f MB per step in %d segment%s "
                  "(%.1f per step started during the backward); after the backward: median "
                  "%.2f ms, fastest %.2f ms; waiting for the slowest rank before it: median "
                  "%.2f ms",
                  m_comm->size(), m_comm->size() == 1 ? "" : "s",
                  m_comm->description().c_str(), double(m_bucket.numel()) * sizeof(float) / 1e6,
                  m_bucket.segments(), m_bucket.segments() == 1 ? "" : "s", early,
                  1e3 * median(m_reduce_seconds),
                  1e3 * *std::min_element(m_reduce_seconds.begin(), m_reduce_seconds.end()),
                  1e3 * median(m_skew_seconds));
    log(line);
  }
  return result(TrainResult::Status::Completed);
}

}  // namespace training
}  // namespace useg
