// Training a U-Net from a run config on an nnU-Net v2 raw dataset (include/useg/dataset.h).
//
// RUN_DIR receives (every file written atomically; model folders swapped in whole):
//   config.json              the effective config (with --seed applied)
//   best/, last/             model folders (model.json + weights.safetensors) usable by
//                            `useg segment --model`; best/ = highest validation mean foreground
//                            Dice, written only when there are validation cases
//   checkpoint.safetensors   weights, optimizer state and the whole training state (epoch, step,
//                            counters, best score, metrics so far) in its metadata
//   metrics.csv              one row per epoch
//   curves.png               training loss and validation Dice per epoch
//
// On the CPU a run is bit-for-bit reproducible for a seed, whatever num_workers, and a resumed
// run continues exactly as the uninterrupted run would have.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "useg/config.h"
#include "useg/image.h"
#include "useg/tensor.h"

namespace useg {

struct TrainOptions {
  std::string data_dir;                 // nnU-Net raw dataset folder
  std::string output_dir;               // RUN_DIR
  std::optional<RunConfig> config;      // required for a new run; with resume, optional and
                                        // then it must equal the run's config.json
  bool resume = false;                  // continue from RUN_DIR/checkpoint.safetensors
  Device device = Device::CPU;
  int threads = 0;                      // CPU backend threads (0 = OpenMP default)
  std::string precision;                // BackendOptions::precision ("" = the device default)
  std::optional<uint64_t> seed;         // overrides train.seed of a new run
  int tty = -1;                         // progress display: -1 detect, 0 log lines, 1 status line
  // How data-parallel ranks sum their gradients (--dist-backend): "" or "auto" = NCCL for CUDA
  // and MPI for the CPU when several processes were launched, nothing for one; "mpi" = the
  // process's communicator (CUDA gradients through host memory); "nccl" = NCCL on the GPUs
  // (--device cuda). An explicit choice runs the all-reduce even for one process.
  std::string dist_backend;
  // Data-parallel training sums the gradients in segments of about this many MB, each started as
  // soon as the backward pass has finished its gradients, so the transfers overlap the rest of
  // the backward (--bucket-mb; PyTorch DDP's bucket_cap_mb). 0: one sum after the backward.
  // Negative: the default, 25 on CUDA and 0 on the CPU (where the ranks' transfers take the
  // cores the backward needs: measured no faster, docs/benchmarks-training.md). The weights do
  // not depend on it.
  double bucket_mb = -1;
  // With several ranks, a wait for the others longer than this many seconds ends the job: a rank
  // is stuck (--collective-timeout; PyTorch's process-group timeout, 30 min). 0: no limit.
  double collective_timeout = 1800;
  // Resource guard: a case whose image headers declare more voxels or more bytes (as float32,
  // all channels) than this is refused before any voxel is read (--max-voxels, --max-memory).
  ReadLimits limits;
  // Set to a signal number (by the caller's signal handler) to stop after the current step:
  // the trainer writes a checkpoint and returns Status::Interrupted.
  const std::atomic<int>* stop = nullptr;
  // Receives the log lines (one per epoch, planning decisions, ...); default: stderr.
  std::function<void(const std::string&)> log;

  // ---- test hooks
  int64_t stop_after_steps = 0;         // > 0: stop as if signalled after this many steps
  // Returns true for a global step whose input batch is to be replaced by NaN.
  std::function<bool(int64_t step)> poison_input;
  // Returns true for a global step whose gradients are to get one +Inf after the backward pass
  // (the loss stays finite: what an overflow of a too-large loss scale looks like).
  std::function<bool(int64_t step)> poison_gradients;
};

struct TrainResult {
  enum class Status { Completed, EarlyStopped, Interrupted };
  Status status = Status::Completed;
  int stop_signal = 0;                  // the signal that interrupted the run, if any
  int epochs_done = 0;                  // completed epochs
  int64_t steps_done = 0;               // optimizer steps attempted in all (skipped included)
  int64_t skipped_steps = 0;            // steps skipped for a non-finite loss or gradient
                                        // (loss-scale overflows included), in all
  double loss_scale = 0;                // the dynamic loss scale now (0: no loss scaling)
  double last_train_loss = 0;           // mean loss of the last completed epoch
  double best_dice = -1;                // best validation mean foreground Dice (-1: none yet);
                                        // a classifier's: its accuracy
  bool classifier = false;              // the run trained a classifier
  int best_epoch = 0;                   // 1-based epoch of best_dice (0: none)
  double last_dice = -1;                // mean foreground Dice of the last validation
  double median_step_seconds = 0;       // forward + backward + update, in this process
  double median_wait_seconds = 0;       // waiting for the data loader, in this process
  double median_make_seconds = 0;       // making one batch (loading + augmentation), wall time
  std::string checkpoint;               // path of the checkpoint written last
};

// Runs (or resumes) a training run. Throws useg::Error for bad configs, datasets and runs that
// diverge (max_nonfinite_steps non-finite losses in a row; the message names the last good
// checkpoint).
TrainResult train(const TrainOptions& options);

// The learning rate of global optimizer step `step` (0-based), schedule and warm-up included.
double scheduled_lr(const TrainConfig& train, int64_t step);

}  // namespace useg
