// The `useg` command. Each subcommand lives in its own cmd_*.cpp and registers itself here.
// Exit codes: 0 success, 1 some cases failed (segment/eval), 2 usage, model or config error.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <functional>
#include <iostream>

#include "cli/commands.h"
#include "useg/error.h"

int main(int argc, char** argv) {
  CLI::App app{"useg: U-Net segmentation of biomedical images (CT, MRI, microscopy; 2D and 3D)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("useg ") + useg::cli::version());
  std::function<int()> run;
  useg::cli::register_commands(app, run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    return run ? run() : 2;
  } catch (const useg::Error& e) {
    std::cerr << "useg: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "useg: internal error: " << e.what() << "\n";
    return 2;
  }
}
