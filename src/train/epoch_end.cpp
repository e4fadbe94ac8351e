// The end of an epoch: validation (sliding window over whole held-out cases, the inference
// `useg segment` runs), best/ and last/ model folders, metrics.csv and curves.png, then the
// checkpoint — written last, so that a run killed anywhere before it redoes this epoch end.
// With several ranks, rank r validates the cases i with i mod N = r, every rank receives every
// case's result (the same numbers, summed in the same order, as one process), and rank 0 alone
// writes. A stop request during validation is then honoured at the epoch end (the ranks check
// it together), not between cases. Trainer::finish, the final validation of a finished run, is
// here too.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "train/final_validation.h"
#include "train/trainer.h"
#include "useg/error.h"
#include "useg/infer.h"
#include "useg/metrics.h"

namespace fs = std::filesystem;

namespace useg::training {

namespace {

std::string fmt(double v, const char* f = "%.4f") {
  char b[32];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

}  // namespace

Trainer::Validation Trainer::validate() {
  return m_run.model.classifier() ? validate_classifier() : validate_segmentation();
}

// The whole validation images in batches, in eval mode: accuracy and each class's recall.
Trainer::Validation Trainer::validate_classifier() {
  const int K = m_run.model.num_classes;
  const int batch = m_run.train.batch_size;
  const size_t ranks = size_t(m_comm->size()), rank = size_t(m_comm->rank());
  std::vector<size_t> mine;  // this rank's cases
  for (size_t i = rank; i < m_val_cases.size(); i += ranks) mine.push_back(i);
  std::vector<int> truth;
  for (const TrainingCase& c : m_val_cases) truth.push_back(c.class_index);
  std::vector<double> found(m_val_cases.size(), 0.0);  // predicted class + 1 (0: another rank's)
  Progress prog("validating", int64_t(mine.size()), m_opts.tty);
  m_progress = &prog;
  for (size_t i0 = 0; i0 < mine.size(); i0 += size_t(batch)) {
    if (ranks == 1 && stop_requested()) {
      m_progress = nullptr;
      throw ValidationInterrupted{};
    }
    const size_t n = std::min(mine.size() - i0, size_t(batch));
    const Shape& s = m_val_cases[mine[i0]].image.shape();
    Tensor x = Tensor::empty(Shape{int64_t(n), s.c(), s.d(), s.h(), s.w()});
    for (size_t j = 0; j < n; ++j) {
      const Tensor& img = m_val_cases[mine[i0 + j]].image;
      std::copy(img.data(), img.data() + img.numel(), x.data() + j * img.numel());
    }
    Tensor logits = m_net->forward(x.to(m_backend->device()), false)[0].to(Device::CPU);
    for (size_t j = 0; j < n; ++j) {
      const float* l = logits.data() + j * size_t(K);
      found[mine[i0 + j]] = double(std::max_element(l, l + K) - l) + 1.0;
    }
    prog.update(int64_t(i0 + n));
  }
  m_progress = nullptr;
  if (ranks > 1) gather_case_results(found);
  std::vector<int> pred;
  for (double f : found) pred.push_back(int(f) - 1);
  ClassScores cs = classification_scores(truth, pred, K);
  return {cs.recall, cs.accuracy};
}

Trainer::Validation Trainer::validate_segmentation() {
  const TrainConfig& t = m_run.train;
  const int K = m_run.model.num_classes;
  WindowOptions wo;
  const auto& p = t.patch_size;
  wo.patch = m_run.model.dims == 3 ? std::array<int64_t, 3>{p[0], p[1], p[2]}
                                   : std::array<int64_t, 3>{1, p[0], p[1]};
  wo.overlap = 0.5;
  wo.batch = t.batch_size;
  wo.mirror = false;
  const size_t ranks = size_t(m_comm->size()), rank = size_t(m_comm->rank()), k_ = size_t(K);
  std::vector<double> dice(m_val_cases.size() * k_, 0.0);  // [case][class]
  Progress prog("validating", int64_t(m_val_cases.size()), m_opts.tty);
  m_progress = &prog;
  try {
    for (size_t i = rank; i < m_val_cases.size(); i += ranks) {
      const TrainingCase& c = m_val_cases[i];
      Tensor probs = predict_probabilities(*m_net, c.image, wo, [this, ranks](int64_t, int64_t) {
        if (ranks == 1 && stop_requested()) throw ValidationInterrupted{};
      });
      std::vector<double> d = dice_per_class(argmax_labels(probs), c.label_tensor(), K);
      std::copy(d.begin(), d.end(), dice.begin() + std::ptrdiff_t(i * k_));
      prog.update(int64_t(i + 1), c.name);
    }
  } catch (const ValidationInterrupted&) {
    m_progress = nullptr;
    throw;
  }
  m_progress = nullptr;
  if (ranks > 1) gather_case_results(dice);
  std::vector<double> sum(k_, 0.0);
  for (size_t i = 0; i < m_val_cases.size(); ++i)
    for (size_t k = 0; k < k_; ++k) sum[k] += dice[i * k_ + k];
  for (double& s : sum) s /= double(m_val_cases.size());
  Validation v;
  v.scores.assign(sum.begin() + 1, sum.end());  // foreground classes
  v.score = 0;
  for (double d : v.scores) v.score += d;
  v.score /= double(v.scores.size());
  return v;
}

ModelInfo Trainer::info_for_save(double score) const {
  ModelInfo info = m_info;
  info.provenance["trained_epochs"] = std::to_string(m_state.epoch + 1);
  info.provenance["seed"] = std::to_string(m_run.train.seed);
  info.provenance["train_cases"] = std::to_string(m_train_cases.size());
  info.provenance["val_cases"] = std::to_string(m_val_cases.size());
  if (score >= 0)
    info.provenance[m_run.model.classifier() ? "val_accuracy" : "val_mean_fg_dice"] =
        fmt(score, "%.6f");
  return info;
}

bool Trainer::end_epoch() {
  auto t0 = std::chrono::steady_clock::now();
  const TrainConfig& t = m_run.train;
  const int epoch = m_state.epoch + 1;  // 1-based, for people
  const bool last = epoch == t.epochs;
  const bool due = !m_val_cases.empty() && (epoch % t.val_interval == 0 || last);
  const MetricsLayout lay = layout();
  const size_t columns = lay.class_names.size();
  EpochRow row;
  row.epoch = epoch;
  row.train_loss = m_state.epoch_loss_count ? m_state.epoch_loss_sum / double(m_state.epoch_loss_count)
                                            : std::nan("");
  row.scores.assign(columns, std::nan(""));
  row.score = std::nan("");
  row.lr = m_state.epoch_last_lr;
  row.skipped_steps = m_state.epoch_skipped;
  bool improved = false;
  if (due) {
    Validation val;
    try {
      val = validate();
    } catch (const ValidationInterrupted&) {
      m_state.epoch_seconds +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      save_checkpoint();
      log("stopped during the validation of epoch " + std::to_string(epoch) +
          "; checkpoint written: " + path("checkpoint.safetensors"));
      return false;
    }
    const double mean = val.score;
    row.scores = val.scores;
    row.score = mean;
    m_state.last_dice = mean;
    if (mean > m_state.best_dice) {
      m_state.best_dice = mean;
      m_state.best_epoch = epoch;
      improved = true;
      if (writer()) save_model_dir_atomic(path("best"), info_for_save(mean), *m_net);
    }
  }
  if (writer()) save_model_dir_atomic(path("last"), info_for_save(due ? row.score : -1), *m_net);
  m_state.epochs_since_best = m_state.best_epoch > 0 ? epoch - m_state.best_epoch : 0;
  m_state.epoch_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  row.seconds = m_state.epoch_seconds;
  m_rows.push_back(row);
  m_state.metrics_rows += metrics_row(row) + "\n";
  std::string run_name = fs::path(m_opts.output_dir).lexically_normal().filename().string();
  if (run_name.empty())
    run_name = fs::path(m_opts.output_dir).lexically_normal().parent_path().filename().string();
  if (writer())
    write_metrics(m_opts.output_dir, lay, m_rows,
                  run_name + " on " + m_info.provenance["dataset"]);

  std::ostringstream os;
  os << "epoch " << epoch << "/" << t.epochs << ": loss " << fmt(row.train_loss);
  if (due) {
    os << ", val " << (m_run.model.classifier() ? "accuracy " : "Dice ") << fmt(row.score);
    if (columns > 1) {
      os << " (" << lay.class_title << " ";
      for (size_t k = 0; k < columns; ++k)
        os << (k ? ", " : "") << lay.class_names[k] << " " << fmt(row.scores[k]);
      os << ")";
    }
    os << (improved ? " (new best)" : ", best " + fmt(m_state.best_dice) + " at epoch " +
                                          std::to_string(m_state.best_epoch));
  }
  os << ", lr " << fmt(row.lr, "%.3g") << ", " << fmt(row.seconds, "%.1f") << " s";
  if (row.skipped_steps) os << ", " << row.skipped_steps << " steps skipped (non-finite)";
  log(os.str());

  bool early = t.patience > 0 && m_state.best_epoch > 0 && m_state.epochs_since_best >= t.patience;
  m_state.epoch = epoch;
  m_state.iteration = 0;
  m_state.epoch_loss_sum = 0;
  m_state.epoch_loss_count = 0;
  m_state.epoch_skipped = 0;
  m_state.epoch_seconds = 0;
  if (early && !last) {
    m_state.finished = "early_stopped";
    log("early stopping: no improvement for " + std::to_string(m_state.epochs_since_best) +
        " epochs (train.patience " + std::to_string(t.patience) + "); best " +
        fmt(m_state.best_dice) + " at epoch " + std::to_string(m_state.best_epoch));
  } else if (last) {
    m_state.finished = "completed";
  }
  save_checkpoint();
  return true;
}

TrainResult Trainer::finish(TrainResult r) {
  if (r.status == TrainResult::Status::Interrupted || !writer() || !m_run.train.final_validation ||
      m_val_names.empty())
    return r;
  if (!fs::exists(fs::path(path("best")) / "model.json")) {
    log("final validation skipped: no best/ model (no validation improved on the first)");
    return r;
  }
  if (m_was_finished && fs::exists(validation_summary(m_opts.output_dir))) return r;
  // The loaded cases are not needed any more: their memory goes before the model's.
  m_train_cases = {};
  m_val_cases = {};
  FinalValidationOptions o;
  o.log = [this](const std::string& line) { log(line); };
  o.tty = m_opts.tty;
  o.stop = [this] {
    if (!m_opts.stop || m_opts.stop->load() == 0) return false;
    m_signal = m_opts.stop->load();
    return true;
  };
  bool completed = false;
  if (m_run.model.classifier()) {
    if (m_class_data.items.empty())
      m_class_data = scan_class_dataset(m_opts.data_dir, m_run.train.classes);
    BackendOptions bo;
    bo.threads = m_opts.threads;
    bo.precision = m_opts.precision;
    if (m_opts.device == Device::CUDA) bo.cuda_device = rank_cuda_device();
    completed = run_final_classification(m_opts.output_dir, m_class_data, m_val_names,
                                         m_opts.device, bo, o)
                    .completed;
  } else {
    const Dataset ds =
        m_dataset.cases.empty() ? scan_dataset(m_opts.data_dir, m_opts.limits) : m_dataset;
    o.probabilities = m_run.train.final_validation_probabilities;
    completed = run_final_validation(m_opts.output_dir, ds, m_val_names, *m_backend, o).completed;
  }
  if (!completed) {
    log("stopped during the final validation; useg train --resume " + m_opts.output_dir +
        " does it again");
    r.status = TrainResult::Status::Interrupted;
    r.stop_signal = m_signal;
  }
  return r;
}

}  // namespace useg::training
