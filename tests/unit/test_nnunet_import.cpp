// `useg import-nnunet` (src/cli/cmd_import.cpp, scripts/nnunet_to_safetensors.py): nnU-Net v2
// PlainConvUNets and ResidualEncoderUNets built by dynamic_network_architectures
// (tests/shell/nnunet_fixture.py: 2D ones with 4 stages, 2 channels and conv biases, 3D ones
// with 3 stages, anisotropic kernels and strides and no conv biases; the ResEnc ones with a
// stem wider than stage 0, two-block stages, strided blocks whose skips pool [1, 2, 2] and
// [2, 2, 2] with and without a channel change; random weights, instance-norm affine parameters
// perturbed) are
// imported from nnU-Net's folder layout, and useg's inference forward must give the module's
// eval-mode logits within 1e-4 of their scale (the inference plan and the op-by-op executor); model.json must carry the plans' preprocessing,
// patch size and labels. What useg cannot reproduce is refused naming the file and the field.
//
// Needs a Python with torch and dynamic-network-architectures: USEG_NNUNET_PYTHON, else
// BUILD/nnunet-venv/bin/python (scripts/setup-nnunet-venv.sh, run by scripts/test.sh); SKIPPED
// with the reason otherwise. The import itself runs /usr/bin/python3 (useg's default).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "common/image_fixtures.h"
#include "common/run_cli.h"
#include "io/safetensors.h"
#include "useg/backend.h"
#include "useg/config.h"
#include "useg/model.h"

namespace useg {
namespace {

namespace fs = std::filesystem;

std::string nnunet_python() {
  const char* env = std::getenv("USEG_NNUNET_PYTHON");
  if (env && *env) return env;
  return USEG_BUILT_NNUNET_PYTHON;
}

std::string why_no_nnunet() {
  const std::string py = nnunet_python();
  if (!fs::exists(py))
    return "no Python with dynamic-network-architectures at " + py +
           " (scripts/setup-nnunet-venv.sh installs one there; USEG_NNUNET_PYTHON overrides)";
  const std::string cmd = "'" + py +
                          "' -c 'import torch, dynamic_network_architectures.architectures.unet'"
                          " >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0)
    return py + " cannot import torch and dynamic_network_architectures "
                "(scripts/setup-nnunet-venv.sh)";
  return "";
}

// Runs the fixture writer; returns the trained folder it prints.
std::string make_fixture(const fs::path& dir, const std::string& dims,
                         const std::string& variant = "", const std::string& net = "plain") {
  std::string cmd = "'" + nnunet_python() + "' '" + std::string(USEG_SOURCE_DIR) +
                    "/tests/shell/nnunet_fixture.py' '" + dir.string() + "' " + dims +
                    " --net " + net + (variant.empty() ? "" : " --variant " + variant) + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  EXPECT_EQ(pclose(p), 0) << out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out.substr(out.rfind('\n') + 1);
}

Tensor as5d(const Tensor& t) {
  const Shape& s = t.shape();
  return s.rank() == 4 ? t.reshaped(Shape{s[0], s[1], 1, s[2], s[3]}) : t;
}

// net: "plain" (PlainConvUNet) or "resenc" (ResidualEncoderUNet).
void check_import(const std::string& dims, const std::string& net = "plain") {
  const bool resenc = net == "resenc";
  const std::string what = net + " " + dims;
  const fs::path dir = test::fresh_dir("nnunet_import_" + net + "_" + dims);
  const std::string folder = make_fixture(dir, dims, "", net);
  const fs::path out = dir / "models" / "imported";
  // (3D: the output named with a trailing slash, a parent folder that does not exist yet)
  auto r = test::run_useg("import-nnunet '" + folder + "' --output '" + out.string() +
                          (dims == "3d" ? "/'" : "'"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(std::distance(fs::directory_iterator(out.parent_path()), {}), 1) << "staging left";
  EXPECT_NE(r.output.find(resenc ? "nnU-Net ResidualEncoderUNet" : "nnU-Net PlainConvUNet"),
            std::string::npos) << r.output;

  auto backend = make_backend(Device::CPU);
  LoadedModel m = load_model_dir(out.string(), *backend);
  EXPECT_EQ(m.info.model.architecture, resenc ? "nnunet_resenc" : "nnunet_plain");
  SafetensorsFile io = read_safetensors((dir / "io.safetensors").string());
  Tensor x = as5d(io.tensors.at("input")), ref = as5d(io.tensors.at("logits"));
  Tensor y = m.net->forward(x.to(backend->device()), /*training=*/false)[0].to(Device::CPU);
  ASSERT_EQ(y.shape(), ref.shape());
  double scale = 0, worst = 0;
  const auto a = y.to_vector(), b = ref.to_vector();
  for (size_t i = 0; i < b.size(); ++i) {
    scale = std::max(scale, double(std::fabs(b[i])));
    worst = std::max(worst, double(std::fabs(a[i] - b[i])));
  }
  std::printf("[nnunet %s] %zu logits, max |diff| %.2e of scale %.3f (rel %.2e)\n", what.c_str(),
              b.size(), worst, scale, worst / scale);
  EXPECT_LE(worst, 1e-4 * scale) << what;
  // The same through the op-by-op executor (training's path) instead of the inference plan.
  m.net->set_inference_plan(false);
  const auto c = m.net->forward(x.to(backend->device()), false)[0].to(Device::CPU).to_vector();
  double worst_exec = 0;
  for (size_t i = 0; i < b.size(); ++i)
    worst_exec = std::max(worst_exec, double(std::fabs(c[i] - b[i])));
  std::printf("[nnunet %s] executor: max |diff| %.2e (rel %.2e)\n", what.c_str(), worst_exec,
              worst_exec / scale);
  EXPECT_LE(worst_exec, 1e-4 * scale) << what << " (executor)";

  const ModelInfo& i = m.info;
  // The strided convs set the size multiple (the sliding window's patch must be one).
  EXPECT_EQ(m.net->size_multiple(), (dims == "2d" ? std::array<int64_t, 3>{1, 8, 4}
                                                  : std::array<int64_t, 3>{2, 4, 4}));
  if (dims == "2d") {
    EXPECT_EQ(i.model.dims, 2);
    EXPECT_EQ(i.labels, (std::vector<std::string>{"background", "liver", "tumour"}));
    EXPECT_EQ(i.patch_size, (std::vector<int>{32, 24}));
    EXPECT_EQ(i.preprocess.target_spacing, (std::vector<double>{0.7, 0.5}));
    ASSERT_EQ(i.preprocess.channels.size(), 2u);
    const ChannelNorm& ct = i.preprocess.channels[0];
    EXPECT_EQ(ct.name, "CT");
    EXPECT_EQ(ct.scheme, IntensityScheme::CT);
    EXPECT_EQ(ct.clip_low, -150.0);
    EXPECT_EQ(ct.clip_high, 400.0);
    EXPECT_EQ(ct.mean, 80.5);
    EXPECT_EQ(ct.std, 60.25);
    EXPECT_EQ(i.preprocess.channels[1].scheme, IntensityScheme::ZScore);
  } else {
    EXPECT_EQ(i.model.dims, 3);
    EXPECT_EQ(i.labels, (std::vector<std::string>{"background", "organ"}));
    EXPECT_EQ(i.patch_size, (std::vector<int>{8, 16, 12}));
    EXPECT_EQ(i.preprocess.target_spacing, (std::vector<double>{3.0, 0.8, 0.8}));
    EXPECT_FLOAT_EQ(i.model.negative_slope, 0.02f);
  }
  if (resenc) {
    EXPECT_TRUE(i.model.n_conv_per_stage.empty());
    EXPECT_EQ(i.model.n_blocks_per_stage,
              (dims == "2d" ? std::vector<int>{1, 2, 1, 2} : std::vector<int>{1, 2, 2}));
    EXPECT_EQ(i.model.stem_channels, dims == "2d" ? 6 : 0);
  }
  EXPECT_EQ(i.provenance.at("imported_from"), "nnU-Net v2");
  // The checkpoint allows mirroring over every axis: segment mirrors by default, as nnU-Net's
  // predictor does.
  EXPECT_TRUE(i.inference.tta);
  EXPECT_NE(i.provenance.at("mirroring").find("(all)"), std::string::npos)
      << i.provenance.at("mirroring");

  // An existing output folder is not overwritten.
  r = test::run_useg("import-nnunet '" + folder + "' --output '" + out.string() + "'");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("exists"), std::string::npos) << r.output;
  fs::remove_all(dir);
}

TEST(NnunetImport, PlainConvUNet2dMatchesPyTorch) {
  if (auto why = why_no_nnunet(); !why.empty()) GTEST_SKIP() << "nnU-Net import test skipped: " << why;
  check_import("2d");
}

TEST(NnunetImport, PlainConvUNet3dMatchesPyTorch) {
  if (auto why = why_no_nnunet(); !why.empty()) GTEST_SKIP() << "nnU-Net import test skipped: " << why;
  check_import("3d");
}

TEST(NnunetImport, ResidualEncoderUNet2dMatchesPyTorch) {
  if (auto why = why_no_nnunet(); !why.empty()) GTEST_SKIP() << "nnU-Net import test skipped: " << why;
  check_import("2d", "resenc");
}

TEST(NnunetImport, ResidualEncoderUNet3dMatchesPyTorch) {
  if (auto why = why_no_nnunet(); !why.empty()) GTEST_SKIP() << "nnU-Net import test skipped: " << why;
  check_import("3d", "resenc");
}

// inference_allowed_mirroring_axes: a subset (nnU-Net's choice for anisotropic data) cannot be
// reproduced (useg mirrors all axes or none), none or an absent key means no mirroring; both
// import with inference.tta false and say why in the provenance.
TEST(NnunetImport, MirroringAxesSetTheInferenceDefault) {
  if (auto why = why_no_nnunet(); !why.empty()) GTEST_SKIP() << "nnU-Net import test skipped: " << why;
  const fs::path dir = test::fresh_dir("nnunet_mirroring");
  for (const std::string v : {"mirror_subset", "no_mirroring"}) {
    const std::string folder = make_fixture(dir / v, "3d", v);
    const fs::path out = dir / v / "out";
    auto r = test::run_useg("import-nnunet '" + folder + "' --output '" + out.string() + "'");
    ASSERT_EQ(r.status, 0) << v << ": " << r.output;
    const ModelInfo i = load_model_info((out / "model.json").string());
    EXPECT_FALSE(i.inference.tta) << v;
    const std::string note = i.provenance.at("mirroring");
    if (v == "mirror_subset")
      EXPECT_NE(note.find("axes [1, 2] only"), std::string::npos) << note;
    else
      EXPECT_NE(note.find("none"), std::string::npos) << note;
  }
  fs::remove_all(dir);
}

TEST(NnunetImport, RefusesWhatItCannotReproduce) {
  if (auto why = why_no_nnunet(); !why.empty()) GTEST_SKIP() << "nnU-Net import test skipped: " << why;
  struct Case {
    std::string variant, file, field, net = "plain";
  };
  const std::vector<Case> cases = {
      {"unknown_class", "plans.json",
       "configurations.3d_fullres.architecture.network_class_name: "
       "'dynamic_network_architectures.architectures.unet.ResidualUNet' is not supported"},
      {"bottleneck", "plans.json",
       "configurations.3d_fullres.architecture.arch_kwargs.block: "
       "'dynamic_network_architectures.building_blocks.residual.BottleneckD': only BasicBlockD",
       "resenc"},
      {"squeeze_excitation", "plans.json",
       "architecture.arch_kwargs.squeeze_excitation: not an argument of ResidualEncoderUNet",
       "resenc"},
      {"regions", "dataset.json", "regions_class_order: region-based"},
      {"cascade", "plans.json", "configurations.3d_cascade_fullres.previous_stage: a cascade"},
      {"transpose", "plans.json", "transpose_forward: [2, 0, 1]"},
      {"norm", "plans.json", "arch_kwargs.norm_op: 'torch.nn.modules.batchnorm.BatchNorm3d'"},
      {"nonlin", "plans.json", "arch_kwargs.nonlin: 'torch.nn.GELU'"},
      {"old_plans", "plans.json", "configurations.3d_fullres.architecture: missing"},
      {"malicious", "checkpoint_final.pth", "refusing to load global posix.system"},
  };
  const fs::path dir = test::fresh_dir("nnunet_refuse");
  for (const Case& c : cases) {
    const std::string folder = make_fixture(dir / c.variant, "3d", c.variant, c.net);
    const fs::path out = dir / c.variant / "out";
    auto r = test::run_useg("import-nnunet '" + folder + "' --output '" + out.string() + "'");
    EXPECT_NE(r.status, 0) << c.variant;
    EXPECT_NE(r.output.find(c.file + ": "), std::string::npos) << c.variant << ": " << r.output;
    EXPECT_NE(r.output.find(c.field), std::string::npos) << c.variant << ": " << r.output;
    EXPECT_FALSE(fs::exists(out)) << c.variant;
    EXPECT_FALSE(fs::exists(dir / c.variant / "pwned")) << c.variant << ": code ran";
  }
  // Not a trained folder; a fold that was not trained.
  auto r = test::run_useg("import-nnunet '" + dir.string() + "' --output '" +
                          (dir / "x").string() + "'");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("TRAINER__PLANS__CONFIGURATION"), std::string::npos) << r.output;
  const std::string folder = make_fixture(dir / "fold", "2d");
  r = test::run_useg("import-nnunet '" + folder + "' --output '" + (dir / "y").string() +
                     "' --fold 3");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("fold_3/checkpoint_final.pth: not found"), std::string::npos)
      << r.output;
  // A Python that does not exist; one without torch (-S: no site / dist-packages).
  r = test::run_useg("import-nnunet '" + folder + "' --output '" + (dir / "z").string() + "'",
                     "USEG_PYTHON=/nonexistent/python3");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("cannot run Python '/nonexistent/python3' (set USEG_PYTHON"),
            std::string::npos) << r.output;
  const fs::path nosite = dir / "python-without-torch";
  {
    std::ofstream f(nosite);
    f << "#!/bin/sh\nexec /usr/bin/python3 -S \"$@\"\n";
  }
  fs::permissions(nosite, fs::perms::owner_all);
  r = test::run_useg("import-nnunet '" + folder + "' --output '" + (dir / "z").string() + "'",
                     "USEG_PYTHON='" + nosite.string() + "'");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("cannot import torch"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "z"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace useg
