// `useg import-nnunet TRAINED_FOLDER --output DIR [--fold K]`: an nnU-Net v2 trained model
// (PlainConvUNet) as a useg model folder (docs/interop.md, "Importing nnU-Net v2 models").
// The checkpoint is a pickle: it is read by PyTorch (torch.load with weights_only=True) in the
// embedded scripts/nnunet_to_safetensors.py, never in C++. The result is loaded back strictly
// (every tensor's name and shape against the graph) before it replaces nothing: the folder is
// written under a staging name and renamed when it loads.
#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "core/files.h"
#include "nnunet_to_safetensors_py.h"
#include "useg/backend.h"
#include "useg/error.h"
#include "useg/model.h"

namespace fs = std::filesystem;

namespace useg::cli {

namespace {

struct ImportArgs {
  std::string folder, output, fold = "0";
};

// $USEG_PYTHON, else /usr/bin/python3, else python3 from PATH.
std::string find_python() {
  if (const char* p = std::getenv("USEG_PYTHON"); p && *p) return p;
  if (::access("/usr/bin/python3", X_OK) == 0) return "/usr/bin/python3";
  return "python3";
}

// Runs argv with stderr into `err_path`; returns the exit status (127: could not start).
int run_process(const std::vector<std::string>& argv, const std::string& err_path) {
  pid_t pid = ::fork();
  USEG_REQUIRE(pid >= 0, "import-nnunet: fork failed");
  if (pid == 0) {
    int fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) ::dup2(fd, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::fprintf(stderr, "cannot run %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

int run_import(const ImportArgs& a) {
  USEG_REQUIRE(fs::is_directory(a.folder),
               a.folder << ": not a folder (an nnU-Net v2 trained model folder: "
                           "DatasetXXX/TRAINER__PLANS__CONFIGURATION)");
  USEG_REQUIRE(!fs::exists(a.output),
               "--output " << a.output << " exists; remove it or name a new folder");
  fs::path out = fs::absolute(a.output).lexically_normal();
  if (out.filename().empty()) out = out.parent_path();  // "models/x/"
  const fs::path staging = out.parent_path() / (out.filename().string() + ".importing." +
                                                std::to_string(::getpid()));
  fs::create_directories(out.parent_path());
  const fs::path script = staging.string() + ".py", err = staging.string() + ".stderr";
  {
    std::ofstream f(script);
    f << kNnunetToSafetensorsPy;
    USEG_REQUIRE(f.good(), "cannot write " << script);
  }
  const std::string python = find_python();
  const int rc = run_process(
      {python, script.string(), a.folder, staging.string(), "--fold", a.fold}, err.string());
  std::string message;
  {
    std::ifstream f(err);
    message.assign(std::istreambuf_iterator<char>(f), {});
  }
  std::error_code ec;
  fs::remove(script, ec);
  fs::remove(err, ec);
  if (rc != 0) {
    fs::remove_all(staging, ec);
    if (rc == 2) USEG_THROW("import-nnunet: " << trim(message));
    if (rc == 127)
      USEG_THROW("import-nnunet: cannot run Python '"
                 << python << "' (set USEG_PYTHON to a python3 with PyTorch): " << trim(message));
    USEG_THROW("import-nnunet: " << python << " failed (exit " << rc << "; USEG_PYTHON picks "
                                 "the Python): " << trim(message));
  }
  try {
    auto backend = make_backend(Device::CPU);
    LoadedModel m = load_model_dir(staging.string(), *backend);  // strict: names and shapes
    fs::rename(staging, out);
    const ModelInfo& i = m.info;
    std::cout << "imported " << a.folder << " (fold " << a.fold << ") -> " << a.output << ": "
              << (i.model.architecture == "nnunet_resenc" ? "nnU-Net ResidualEncoderUNet "
                                                          : "nnU-Net PlainConvUNet ")
              << i.model.dims << "D, " << i.model.depth + 1
              << " stages, " << i.model.in_channels << " channel(s), " << i.model.num_classes
              << " classes, " << m.net->num_parameters() << " parameters\n";
  } catch (...) {
    fs::remove_all(staging, ec);
    throw;
  }
  return 0;
}

}  // namespace

void register_import_commands(CLI::App& app, std::function<int()>& run) {
  auto args = std::make_shared<ImportArgs>();
  CLI::App* c = app.add_subcommand(
      "import-nnunet",
      "Import an nnU-Net v2 trained model (PlainConvUNet or ResidualEncoderUNet) as a model "
      "folder: architecture, weights, preprocessing, patch size and labels (docs/interop.md). "
      "Needs Python with PyTorch ($USEG_PYTHON, else /usr/bin/python3)");
  c->add_option("trained_folder", args->folder,
                "nnU-Net's DatasetXXX/TRAINER__PLANS__CONFIGURATION folder (plans.json, "
                "dataset.json, fold_K/checkpoint_final.pth)")
      ->required();
  c->add_option("--output", args->output, "model folder to write (must not exist)")->required();
  c->add_option("--fold", args->fold, "which fold's checkpoint_final.pth (a number or 'all'; "
                                      "default 0)");
  c->callback([&run, args] { run = [args] { return run_import(*args); }; });
}

}  // namespace useg::cli
