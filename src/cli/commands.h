// Registration of the subcommands. Each register_* adds a subcommand to `app` and, when the
// subcommand is chosen, sets `run` to a function returning the exit code.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace CLI {
class App;
}

namespace useg::cli {

const char* version();
void register_commands(CLI::App& app, std::function<int()>& run);

// One per file: cmd_model.cpp (info, init), ...
void register_model_commands(CLI::App& app, std::function<int()>& run);
// cmd_eval.cpp (eval)
void register_eval_commands(CLI::App& app, std::function<int()>& run);
void register_segment_commands(CLI::App& app, std::function<int()>& run);  // cmd_segment.cpp
void register_bench_commands(CLI::App& app, std::function<int()>& run);  // cmd_bench.cpp
void register_train_commands(CLI::App& app, std::function<int()>& run);  // cmd_train.cpp
void register_classify_commands(CLI::App& app, std::function<int()>& run);  // cmd_classify.cpp
void register_export_commands(CLI::App& app, std::function<int()>& run);  // cmd_export.cpp
void register_plan_commands(CLI::App& app, std::function<int()>& run);  // cmd_plan.cpp
void register_import_commands(CLI::App& app, std::function<int()>& run);  // cmd_import.cpp
// cmd_find_postprocess.cpp
void register_find_postprocess_commands(CLI::App& app, std::function<int()>& run);
// cmd_crossval.cpp
void register_crossval_commands(CLI::App& app, std::function<int()>& run);
// cmd_ensemble.cpp
void register_ensemble_commands(CLI::App& app, std::function<int()>& run);

// --precision (BackendOptions::precision), restricted to precision_choices(); `extra` is appended
// to the help text.
void add_precision_option(CLI::App* command, std::string& target, const std::string& extra = "");
// --conv-algorithm (BackendOptions::conv_algorithm), restricted to conv_algorithm_choices().
void add_conv_algorithm_option(CLI::App* command, std::string& target);

// "8G", "512M", "1.5GiB", "1000000" -> bytes (K/M/G/T are powers of 1024); errors name `option`.
int64_t parse_bytes(const std::string& text, const std::string& option);

}  // namespace useg::cli
