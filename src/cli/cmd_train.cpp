// `useg train --config CONFIG.json --data DATASET_DIR --output RUN_DIR [--device cpu|cuda]
//             [--resume] [--threads N] [--precision P] [--seed S] [--max-voxels N] [--max-memory BYTES]
//             [--dist-backend auto|mpi|nccl]`
//
// SIGINT, SIGTERM and SIGUSR1 (Slurm's warning before the time limit) stop the run after the
// current step with a checkpoint; the command exits 0 and prints the command that resumes it.
// A second SIGINT (Ctrl-C twice) exits at once; every output is written atomically, so even then
// nothing is left half-written.
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <sstream>

#include "cli/commands.h"
#include "dist/communicator.h"
#include "config/validate.h"
#include "useg/config.h"
#include "useg/error.h"
#include "useg/train.h"

namespace fs = std::filesystem;

namespace useg::cli {

namespace {

std::atomic<int> g_stop_signal{0};

extern "C" void on_stop_signal(int sig) {
  if (sig == SIGINT && g_stop_signal.load() == SIGINT) {
    const char msg[] = "\nuseg train: second interrupt, exiting now (outputs are atomic; resume "
                       "from the last checkpoint)\n";
    ssize_t ignored = ::write(2, msg, sizeof msg - 1);
    (void)ignored;
    ::_exit(130);
  }
  g_stop_signal.store(sig);
}

void install_signal_handlers() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int sig : {SIGINT, SIGTERM, SIGUSR1}) sigaction(sig, &sa, nullptr);
}

const char* signal_name(int sig) {
  switch (sig) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGUSR1: return "SIGUSR1";
    default: return "a signal";
  }
}

std::string quote(const std::string& s) {
  bool plain = !s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV"
                                                 "WXYZ0123456789_-./=:,+@") == std::string::npos;
  if (plain) return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

struct TrainArgs {
  std::string config, data, output, device = "cpu", precision, dist_backend;
  std::optional<double> bucket_mb, collective_timeout;
  bool resume = false;
  int threads = 0;
  std::optional<uint64_t> seed;
  std::optional<int> fold, folds;  // override train.fold / train.folds
  int64_t max_voxels = 0;   // 0: the reader's default (ReadLimits)
  std::string max_memory;   // "": the reader's default
};

std::string resume_command(const TrainArgs& a) {
  std::string cmd = "useg train --resume --data " + quote(a.data) + " --output " + quote(a.output);
  if (a.device != "cpu") cmd += " --device " + quote(a.device);
  if (a.threads > 0) cmd += " --threads " + std::to_string(a.threads);
  if (!a.precision.empty()) cmd += " --precision " + a.precision;
  if (!a.dist_backend.empty()) cmd += " --dist-backend " + a.dist_backend;
  if (a.bucket_mb) {
    std::ostringstream mb;
    mb << *a.bucket_mb;
    cmd += " --bucket-mb " + mb.str();
  }
  if (a.collective_timeout) {
    std::ostringstream s;
    s << *a.collective_timeout;
    cmd += " --collective-timeout " + s.str();
  }
  if (a.max_voxels > 0) cmd += " --max-voxels " + std::to_string(a.max_voxels);
  if (!a.max_memory.empty()) cmd += " --max-memory " + quote(a.max_memory);
  return cmd;
}

int run_train(const TrainArgs& a) {
  TrainOptions o;
  o.data_dir = a.data;
  o.output_dir = a.output;
  o.resume = a.resume;
  o.device = parse_device(a.device);
  o.threads = a.threads;
  o.precision = a.precision;
  o.dist_backend = a.dist_backend;
  if (a.bucket_mb) o.bucket_mb = *a.bucket_mb;
  if (a.collective_timeout) o.collective_timeout = *a.collective_timeout;
  o.seed = a.seed;
  if (a.max_voxels > 0) o.limits.max_voxels = a.max_voxels;
  if (!a.max_memory.empty()) o.limits.max_bytes = parse_bytes(a.max_memory, "--max-memory");
  if (!a.config.empty()) o.config = load_run_config(a.config);
  USEG_REQUIRE(o.config || a.resume, "--config is required for a new run");
  if (a.fold || a.folds) {
    USEG_REQUIRE(o.config,
                 "--fold/--folds choose the split of a new run (or must repeat it with "
                 "--config on --resume); a resumed run keeps its fold");
    if (a.fold) o.config->train.fold = *a.fold;
    if (a.folds) o.config->train.folds = *a.folds;
    validate_run_config(*o.config, "--fold/--folds");
  }
  o.stop = &g_stop_signal;
  // Test hook (tests/shell/test_mpi_train.sh): stop as if signalled after N steps of this
  // process, at an exact step (a signal lands wherever the run happens to be).
  if (const char* n = std::getenv("USEG_TEST_STOP_AFTER_STEPS"); n && *n)
    o.stop_after_steps = std::stoll(n);
  install_signal_handlers();
  TrainResult r = train(o);
  if (dist::world().rank() != 0) return 0;  // rank 0 reports for a data-parallel run
  switch (r.status) {
    case TrainResult::Status::Interrupted:
      std::cerr << "useg train: stopped by " << signal_name(r.stop_signal) << " after "
                << r.steps_done << " steps; checkpoint " << r.checkpoint << "\n"
                << "resume with:\n  " << resume_command(a) << "\n";
      return 0;
    case TrainResult::Status::EarlyStopped:
    case TrainResult::Status::Completed:
      break;
  }
  std::cout << "trained " << r.epochs_done << " epochs"
            << (r.status == TrainResult::Status::EarlyStopped ? " (early stopping)" : "");
  if (r.best_epoch > 0)
    std::cout << "; best validation " << (r.classifier ? "accuracy " : "mean foreground Dice ")
              << r.best_dice << " at epoch " << r.best_epoch << ": "
              << (fs::path(a.output) / "best").string();
  std::cout << "\nlast model: " << (fs::path(a.output) / "last").string() << "\n";
  if (r.skipped_steps > 0)
    std::cout << r.skipped_steps << " steps were skipped for a non-finite loss\n";
  return 0;
}

}  // namespace

void register_train_commands(CLI::App& app, std::function<int()>& run) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* c = app.add_subcommand(
      "train", "Train a U-Net from a JSON config on an nnU-Net v2 raw dataset (dataset.json, "
               "imagesTr/, labelsTr/); writes best/ and last/ model folders, a checkpoint, "
               "metrics.csv and curves.png into the run folder");
  c->add_option("--config", args->config, "training config (JSON); optional with --resume");
  c->add_option("--data", args->data, "dataset folder in the nnU-Net v2 raw layout")->required();
  c->add_option("--output", args->output, "run folder")->required();
  c->add_option("--device", args->device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  c->add_flag("--resume", args->resume, "continue the run in --output from its checkpoint");
  c->add_option("--threads", args->threads, "CPU threads (0 = all)")->check(CLI::NonNegativeNumber);
  add_precision_option(c, args->precision,
                       "; fp16 turns on dynamic loss scaling, see train.loss_scaling");
  c->add_option("--dist-backend", args->dist_backend,
                "how data-parallel ranks (mpirun, srun) sum their gradients: auto (nccl for "
                "--device cuda, mpi for cpu; nothing for one process), mpi (CUDA gradients "
                "through host memory), nccl (on the GPUs; also for one process)")
      ->check(CLI::IsMember({"auto", "mpi", "nccl"}));
  c->add_option("--bucket-mb", args->bucket_mb,
                "data-parallel training sums the gradients in segments of about this many MB, "
                "each as soon as the backward pass has finished it (overlapping the rest of the "
                "backward; default 25 with --device cuda, as PyTorch DDP's bucket_cap_mb, and 0 "
                "on the CPU); 0: one sum after the backward. The weights do not depend on it")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--collective-timeout", args->collective_timeout,
                "with several ranks, end the job when one waits longer than this many seconds "
                "for the others (a rank is stuck; default 1800, 0: no limit)")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--max-voxels", args->max_voxels,
                "refuse a case whose headers declare more voxels (default 2^31)")
      ->check(CLI::PositiveNumber);
  c->add_option("--max-memory", args->max_memory,
                "refuse a case whose headers declare more bytes as float32, all channels "
                "(K, M, G, T suffixes; default 16G)");
  c->add_option_function<int>(
      "--fold", [args](const int& k) { args->fold = k; },
      "cross-validation fold to train, 0..folds-1 (overrides train.fold; the split is "
      "DATASET/splits.json, made as nnU-Net does when absent)");
  c->add_option_function<int>(
      "--folds", [args](const int& n) { args->folds = n; },
      "number of cross-validation folds (overrides train.folds; default 5)");
  c->add_option_function<uint64_t>(
      "--seed", [args](const uint64_t& s) { args->seed = s; },
      "random seed (overrides train.seed; weights, split, sampling and augmentation)");
  c->callback([&run, args] { run = [args] { return run_train(*args); }; });
}

}  // namespace useg::cli
