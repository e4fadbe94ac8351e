#include "cli/commands.h"

#include <CLI/CLI.hpp>

namespace useg::cli {

const char* version() { return "0.1.0"; }

void register_commands(CLI::App& app, std::function<int()>& run) {
  register_model_commands(app, run);
  register_eval_commands(app, run);
  register_segment_commands(app, run);
  register_bench_commands(app, run);
  register_train_commands(app, run);
}

}  // namespace useg::cli
