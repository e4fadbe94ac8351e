#include "cli/commands.h"

#include <CLI/CLI.hpp>

#include <cctype>
#include <cstdlib>

#include "useg/backend.h"
#include "useg/error.h"

namespace useg::cli {

const char* version() { return "0.1.0"; }

void add_precision_option(CLI::App* command, std::string& target, const std::string& extra) {
  command
      ->add_option("--precision", target,
                   "convolution arithmetic: fp32, tf32, fp16 or bf16 (default: fp32 on cpu, tf32 "
                   "on cuda" + extra + ")")
      ->check(CLI::IsMember(precision_choices()));
}

void add_conv_algorithm_option(CLI::App* command, std::string& target) {
  command
      ->add_option("--conv-algorithm", target,
                   "CPU inference of 3x3(x3) convolutions: auto (Winograd F(2,3) on AVX2 CPUs, "
                   "else direct) or direct (oneDNN's direct convolution); default auto")
      ->check(CLI::IsMember(conv_algorithm_choices()));
}

int64_t parse_bytes(const std::string& text, const std::string& option) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  std::string unit = end ? std::string(end) : "";
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (unit.size() > 1 && (unit.substr(1) == "B" || unit.substr(1) == "IB")) unit = unit.substr(0, 1);
  double scale = unit.empty() || unit == "B" ? 1
                 : unit == "K"              ? 1024.0
                 : unit == "M"              ? 1024.0 * 1024
                 : unit == "G"              ? 1024.0 * 1024 * 1024
                 : unit == "T"              ? 1024.0 * 1024 * 1024 * 1024
                                            : -1;
  if (end == text.c_str() || !(v > 0) || scale < 0 || v * scale > 9.2e18)
    USEG_THROW(option << " expects bytes, optionally with K, M, G or T (powers of 1024), e.g. "
                      << option << " 8G; got '" << text << "'");
  return static_cast<int64_t>(v * scale);
}

void register_commands(CLI::App& app, std::function<int()>& run) {
  register_model_commands(app, run);
  register_eval_commands(app, run);
  register_segment_commands(app, run);
  register_classify_commands(app, run);
  register_bench_commands(app, run);
  register_train_commands(app, run);
  register_export_commands(app, run);
  register_plan_commands(app, run);
  register_import_commands(app, run);
  register_find_postprocess_commands(app, run);
  register_crossval_commands(app, run);
  register_ensemble_commands(app, run);
}

}  // namespace useg::cli
