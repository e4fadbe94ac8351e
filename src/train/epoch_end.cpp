// The end of an epoch: validation (sliding window over whole held-out cases, the inference
// `useg segment` runs), best/ and last/ model folders, metrics.csv and curves.png, then the
// checkpoint — written last, so that a run killed anywhere before it redoes this epoch end.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

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

std::vector<double> Trainer::validate() {
  const TrainConfig& t = m_run.train;
  const int K = m_run.model.num_classes;
  WindowOptions wo;
  const auto& p = t.patch_size;
  wo.patch = m_run.model.dims == 3 ? std::array<int64_t, 3>{p[0], p[1], p[2]}
                                   : std::array<int64_t, 3>{1, p[0], p[1]};
  wo.overlap = 0.5;
  wo.batch = t.batch_size;
  wo.mirror = false;
  std::vector<double> sum(static_cast<size_t>(K), 0.0);
  Progress prog("validating", int64_t(m_val_cases.size()), m_opts.tty);
  m_progress = &prog;
  try {
    for (size_t i = 0; i < m_val_cases.size(); ++i) {
      const TrainingCase& c = m_val_cases[i];
      Tensor probs = predict_probabilities(*m_net, c.image, wo, [this](int64_t, int64_t) {
        if (stop_requested()) throw ValidationInterrupted{};
      });
      std::vector<double> d = dice_per_class(argmax_labels(probs), c.label_tensor(), K);
      for (int k = 0; k < K; ++k) sum[static_cast<size_t>(k)] += d[static_cast<size_t>(k)];
      prog.update(int64_t(i + 1), c.name);
    }
  } catch (const ValidationInterrupted&) {
    m_progress = nullptr;
    throw;
  }
  m_progress = nullptr;
  for (double& s : sum) s /= double(m_val_cases.size());
  return sum;
}

ModelInfo Trainer::info_for_save(double dice) const {
  ModelInfo info = m_info;
  info.provenance["trained_epochs"] = std::to_string(m_state.epoch + 1);
  info.provenance["seed"] = std::to_string(m_run.train.seed);
  info.provenance["train_cases"] = std::to_string(m_train_cases.size());
  info.provenance["val_cases"] = std::to_string(m_val_cases.size());
  if (dice >= 0) info.provenance["val_mean_fg_dice"] = fmt(dice, "%.6f");
  return info;
}

bool Trainer::end_epoch() {
  auto t0 = std::chrono::steady_clock::now();
  const TrainConfig& t = m_run.train;
  const int epoch = m_state.epoch + 1;  // 1-based, for people
  const bool last = epoch == t.epochs;
  const bool due = !m_val_cases.empty() && (epoch % t.val_interval == 0 || last);
  const size_t fg = m_info.labels.size() - 1;
  EpochRow row;
  row.epoch = epoch;
  row.train_loss = m_state.epoch_loss_count ? m_state.epoch_loss_sum / double(m_state.epoch_loss_count)
                                            : std::nan("");
  row.dice.assign(fg, std::nan(""));
  row.mean_fg_dice = std::nan("");
  row.lr = m_state.epoch_last_lr;
  row.skipped_steps = m_state.epoch_skipped;
  bool improved = false;
  if (due) {
    std::vector<double> dice;
    try {
      dice = validate();
    } catch (const ValidationInterrupted&) {
      m_state.epoch_seconds +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      save_checkpoint();
      log("stopped during the validation of epoch " + std::to_string(epoch) +
          "; checkpoint written: " + path("checkpoint.safetensors"));
      return false;
    }
    double mean = 0;
    for (size_t k = 1; k < dice.size(); ++k) mean += dice[k];
    mean /= double(fg);
    for (size_t k = 0; k < fg; ++k) row.dice[k] = dice[k + 1];
    row.mean_fg_dice = mean;
    m_state.last_dice = mean;
    if (mean > m_state.best_dice) {
      m_state.best_dice = mean;
      m_state.best_epoch = epoch;
      improved = true;
      save_model_dir_atomic(path("best"), info_for_save(mean), *m_net);
    }
  }
  save_model_dir_atomic(path("last"), info_for_save(due ? row.mean_fg_dice : -1), *m_net);
  m_state.epochs_since_best = m_state.best_epoch > 0 ? epoch - m_state.best_epoch : 0;
  m_state.epoch_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  row.seconds = m_state.epoch_seconds;
  m_rows.push_back(row);
  m_state.metrics_rows += metrics_row(row) + "\n";
  std::string run_name = fs::path(m_opts.output_dir).lexically_normal().filename().string();
  if (run_name.empty())
    run_name = fs::path(m_opts.output_dir).lexically_normal().parent_path().filename().string();
  write_metrics(m_opts.output_dir, m_info.labels, m_rows,
                run_name + " on " + m_info.provenance["dataset"]);

  std::ostringstream os;
  os << "epoch " << epoch << "/" << t.epochs << ": loss " << fmt(row.train_loss);
  if (due) {
    os << ", val Dice " << fmt(row.mean_fg_dice);
    if (fg > 1) {
      os << " (";
      for (size_t k = 0; k < fg; ++k)
        os << (k ? ", " : "") << m_info.labels[k + 1] << " " << fmt(row.dice[k]);
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

}  // namespace useg::training
