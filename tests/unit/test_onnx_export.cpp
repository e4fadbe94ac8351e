// ONNX export (src/interop/onnx_export.cpp): networks of every node kind the graph has are
// exported, run in ONNX Runtime by scripts/onnx_check.py on the same input, and their logits must
// match useg's (inference path) to 1e-4 of the output's scale; with --aux-outputs the
// deep-supervision heads match useg's training-mode outputs. `useg export` is checked from the
// command line, and a 3D base-16 U-Net runs in ORT on a 96^3 input.
//
// Needs a build with ONNX (USEG_WITH_ONNX) and a Python with onnxruntime: USEG_ORT_PYTHON, else
// BUILD/onnx-venv/bin/python (scripts/setup-onnx-venv.sh, run by scripts/test.sh); SKIPPED with
// the reason otherwise.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "common/image_fixtures.h"
#include "common/run_cli.h"
#include "useg/backend.h"
#include "useg/config.h"
#include "useg/interop.h"
#include "useg/model.h"

namespace useg {
namespace {

namespace fs = std::filesystem;

std::string ort_python() {
  const char* env = std::getenv("USEG_ORT_PYTHON");
  if (env && *env) return env;
  return USEG_BUILT_ORT_PYTHON;
}

// Why the ORT comparison cannot run here, or "" when it can.
std::string why_no_ort() {
  std::string why;
  if (!onnx_export_available(&why)) return why;
  const std::string py = ort_python();
  if (!fs::exists(py))
    return "no Python with onnxruntime at " + py +
           " (scripts/setup-onnx-venv.sh installs one there; USEG_ORT_PYTHON overrides)";
  const std::string cmd = "'" + py + "' -c 'import onnxruntime, numpy' >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0)
    return py + " cannot import onnxruntime and numpy (scripts/setup-onnx-venv.sh)";
  return "";
}

void write_raw(const fs::path& p, const Tensor& t) {
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(t.data()), static_cast<std::streamsize>(t.bytes()));
  ASSERT_TRUE(f.good()) << p;
}

std::string shape_arg(const Shape& s, int dims) {
  std::ostringstream o;
  o << s[0] << "," << s[1];
  for (int a = 3 - dims; a < 3; ++a) o << "," << s[2 + a];
  return o.str();
}

// Runs scripts/onnx_check.py; returns its exit status, output in *log.
int run_check(const std::string& args, std::string* log) {
  const std::string cmd = "'" + ort_python() + "' '" + std::string(USEG_SOURCE_DIR) +
                          "/scripts/onnx_check.py' " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) log->append(buf, n);
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

ModelInfo info_for(const std::string& model_json) {
  ModelInfo info;
  info.model = parse_model_config(model_json, "test model");
  for (int c = 0; c < info.model.in_channels; ++c) {
    ChannelNorm ch;
    ch.name = "ch" + std::to_string(c);
    info.preprocess.channels.push_back(ch);
  }
  for (int k = 0; k < info.model.num_classes; ++k)
    info.labels.push_back(k ? "class" + std::to_string(k) : "background");
  return info;
}

// Random weights everywhere that matters: He-initialized convolutions, and norm scales, shifts
// and running statistics drawn away from their neutral values (so that BatchNorm's inference
// formula and the affine parts are really exercised).
void randomize(Network& net, uint64_t seed) {
  net.init_weights(seed);
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  auto ends_with = [](const std::string& s, const std::string& e) {
    return s.size() >= e.size() && s.compare(s.size() - e.size(), e.size(), e) == 0;
  };
  for (Parameter* p : net.parameters()) {
    const bool norm_param = p->name.find(".norm.") != std::string::npos;
    const bool bias = ends_with(p->name, ".bias");
    if (!norm_param && !bias) continue;
    for (int64_t i = 0; i < p->value.numel(); ++i)  // CPU tensors
      p->value.data()[i] = (norm_param && !bias ? 1.f : 0.f) + u(rng);
  }
  for (Parameter* p : net.buffers()) {
    const bool var = ends_with(p->name, "running_var");
    for (int64_t i = 0; i < p->value.numel(); ++i)
      p->value.data()[i] = var ? 0.6f + u(rng) : u(rng);
  }
}

struct Case {
  const char* name;
  const char* model;
  std::vector<int64_t> input;  // [N, C, D, H, W]
  bool aux = false;            // compare the deep-supervision heads too (training forward)
};

void export_and_compare(const Case& c) {
  const std::string why = why_no_ort();
  if (!why.empty()) GTEST_SKIP() << "ONNX Runtime comparison skipped: " << why;
  ModelInfo info = info_for(c.model);
  auto be = make_backend(Device::CPU);
  Network net(info.model, *be);
  randomize(net, 7);
  const Shape xs(c.input);
  Tensor x = Tensor::empty(xs);
  std::mt19937 rng(3);
  std::normal_distribution<float> nd;
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = nd(rng);

  // Inference: the path useg segment takes (the backend's plan where it compiles one).
  std::vector<Tensor> ys = net.forward(x, false);
  const fs::path dir = test::fresh_dir(std::string("onnx_") + c.name);
  write_raw(dir / "x.f32", x);
  write_raw(dir / "logits.f32", ys.at(0).to(Device::CPU));
  std::string expect = " --expect logits=" + (dir / "logits.f32").string();
  if (c.aux) {
    // Training mode computes the heads; with instance norm and no dropout its values equal
    // inference's.
    std::vector<Tensor> all = net.forward(x, true);
    ASSERT_GT(all.size(), 1u) << c.name << ": no deep-supervision outputs";
    for (size_t k = 1; k < all.size(); ++k) {
      const fs::path p = dir / ("ds" + std::to_string(k) + ".f32");
      write_raw(p, all[k].to(Device::CPU));
      expect += " --expect logits_ds" + std::to_string(k) + "=" + p.string();
    }
  }
  OnnxExportOptions opts;
  opts.aux_outputs = c.aux;
  export_onnx(info, net, (dir / "m.onnx").string(), opts);
  std::string log;
  const int rc = run_check("--model " + (dir / "m.onnx").string() + " --input " +
                               (dir / "x.f32").string() + " --shape " +
                               shape_arg(xs, info.model.dims) + expect + " --rtol 1e-4",
                           &log);
  EXPECT_EQ(rc, 0) << c.name << ":\n" << log;
  std::cout << "[ " << c.name << " ] " << log;
}

const Case kUnet2dInstance{"unet2d_instance_leaky", R"({"dims": 2, "in_channels": 2,
  "num_classes": 3, "base_filters": 8, "depth": 3, "norm": "instance",
  "activation": "leaky_relu", "negative_slope": 0.1})", {2, 2, 1, 48, 40}};
const Case kUnet3dBatchResidual{"unet3d_batch_relu_residual_anisotropic", R"({"dims": 3,
  "in_channels": 1, "num_classes": 2, "base_filters": 4, "depth": 2, "norm": "batch",
  "activation": "relu", "residual": true, "pool_sizes": [[1, 2, 2], [2, 2, 2]],
  "kernel_sizes": [[1, 3, 3], [3, 3, 3], [3, 3, 3]]})", {2, 1, 8, 16, 24}};
const Case kUnet2dDeepSupervision{"unet2d_residual_deep_supervision_sigmoid", R"({"dims": 2,
  "in_channels": 1, "num_classes": 4, "base_filters": 6, "depth": 3, "norm": "instance",
  "activation": "sigmoid", "residual": true, "deep_supervision": true})", {1, 1, 1, 32, 32},
  true};
const Case kUnet2dNoNormTanh{"unet2d_nonorm_tanh_k5_dropout", R"({"dims": 2, "in_channels": 1,
  "num_classes": 2, "base_filters": 4, "depth": 2, "norm": "none", "activation": "tanh",
  "kernel_size": 5, "dropout": 0.3, "convs_per_stage": 3})", {1, 1, 1, 24, 28}};
const Case kUnet3dDeepSupervision{"unet3d_instance_residual_deep_supervision", R"({"dims": 3,
  "in_channels": 2, "num_classes": 3, "base_filters": 4, "depth": 3, "norm": "instance",
  "residual": true, "deep_supervision": true})", {1, 2, 16, 16, 16}, true};
const Case kLayers2d{"layers2d_cnn_batchnorm_flatten_dense", R"({"architecture": "layers",
  "dims": 2, "in_channels": 1, "num_classes": 5, "input_size": [28, 28], "layers": [
    {"type": "conv", "filters": 8, "kernel": 3, "stride": 2, "norm": "batch",
     "activation": "relu"},
    {"type": "max_pool", "size": 2},
    {"type": "conv", "filters": 12, "kernel": 3, "norm": "instance",
     "activation": "leaky_relu"},
    {"type": "flatten"},
    {"type": "dense", "units": 16, "activation": "tanh"},
    {"type": "dropout", "p": 0.5},
    {"type": "dense"}]})", {3, 1, 1, 28, 28}};
const Case kLayers3dGlobalMax{"layers3d_global_max_pool", R"({"architecture": "layers",
  "dims": 3, "in_channels": 1, "num_classes": 3, "input_size": [8, 12, 12], "layers": [
    {"type": "conv", "filters": 6, "kernel": 3, "activation": "sigmoid"},
    {"type": "global_max_pool"},
    {"type": "dense", "units": 4, "activation": "relu"},
    {"type": "dense"}]})", {2, 1, 8, 12, 12}};
const Case kEncoderClassifier{"encoder_classifier3d_batch_global_avg", R"({
  "architecture": "encoder_classifier", "dims": 3, "in_channels": 1, "num_classes": 3,
  "base_filters": 4, "depth": 2, "norm": "batch", "dropout": 0.2})", {2, 1, 16, 16, 16}};
// nnU-Net's PlainConvUNet (useg import-nnunet): strided-conv downsampling, per-stage features
// and conv counts.
const Case kNnunetPlain3d{"nnunet_plain3d_strided_anisotropic", R"({"architecture":
  "nnunet_plain", "dims": 3, "in_channels": 1, "num_classes": 3, "depth": 2,
  "features_per_stage": [4, 8, 12], "n_conv_per_stage": [2, 1, 2],
  "n_conv_per_stage_decoder": [1, 2], "pool_sizes": [[1, 2, 2], [2, 2, 2]],
  "kernel_sizes": [[1, 3, 3], [3, 3, 3], [3, 3, 3]], "negative_slope": 0.02})",
  {2, 1, 8, 16, 24}};

// nnU-Net's ResidualEncoderUNet: a stem wider than stage 0, strided residual blocks whose skips
// are AveragePool ([1, 2, 2] with a 1x1 conv + norm, [2, 2, 2] alone), two-block stages.
const Case kNnunetResenc3d{"nnunet_resenc3d_avgpool_skips", R"({"architecture":
  "nnunet_resenc", "dims": 3, "in_channels": 1, "num_classes": 3, "depth": 2,
  "features_per_stage": [4, 8, 8], "n_blocks_per_stage": [1, 2, 2], "stem_channels": 6,
  "n_conv_per_stage_decoder": [1, 2], "pool_sizes": [[1, 2, 2], [2, 2, 2]],
  "kernel_sizes": [[1, 3, 3], [3, 3, 3], [3, 3, 3]], "negative_slope": 0.02})",
  {2, 1, 8, 16, 24}};

TEST(OnnxExport, Unet2dInstanceNormLeakyRelu) { export_and_compare(kUnet2dInstance); }
TEST(OnnxExport, Unet3dBatchNormReluResidualAnisotropic) { export_and_compare(kUnet3dBatchResidual); }
TEST(OnnxExport, Unet2dResidualDeepSupervisionSigmoid) { export_and_compare(kUnet2dDeepSupervision); }
TEST(OnnxExport, Unet2dNoNormTanhKernel5Dropout) { export_and_compare(kUnet2dNoNormTanh); }
TEST(OnnxExport, Unet3dInstanceResidualDeepSupervision) { export_and_compare(kUnet3dDeepSupervision); }
TEST(OnnxExport, LayersClassifier2d) { export_and_compare(kLayers2d); }
TEST(OnnxExport, LayersClassifier3dGlobalMaxPool) { export_and_compare(kLayers3dGlobalMax); }
TEST(OnnxExport, EncoderClassifier3dGlobalAvgPool) { export_and_compare(kEncoderClassifier); }
TEST(OnnxExport, NnunetPlain3dStridedConvs) { export_and_compare(kNnunetPlain3d); }
TEST(OnnxExport, NnunetResenc3dAveragePoolSkips) { export_and_compare(kNnunetResenc3d); }

// The command: a model folder from `useg init`, exported, and the 96^3 run of a 3D base-16
// U-Net (depth 4) in ORT, compared with useg's forward on the same input.
TEST(OnnxExport, CommandExports3dBase16UnetThatRunsOn96Cubed) {
  const std::string why = why_no_ort();
  if (!why.empty()) GTEST_SKIP() << "ONNX Runtime comparison skipped: " << why;
  const fs::path dir = test::fresh_dir("onnx_cli");
  {
    std::ofstream f(dir / "cfg.json");
    f << R"({"model": {"dims": 3, "in_channels": 1, "num_classes": 2, "base_filters": 16,
      "depth": 4}, "train": {"patch_size": [96, 96, 96], "normalization": "zscore",
      "target_spacing": "native"}})";
  }
  test::CliResult r = test::run_useg("init --config " + (dir / "cfg.json").string() +
                                     " --output " + (dir / "model").string());
  ASSERT_EQ(r.status, 0) << r.output;
  r = test::run_useg("export --model " + (dir / "model").string() + " --format onnx --output " +
                     (dir / "m.onnx").string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("opset 17"), std::string::npos) << r.output;

  auto be = make_backend(Device::CPU);
  LoadedModel m = load_model_dir((dir / "model").string(), *be);
  Tensor x = Tensor::empty(Shape{1, 1, 96, 96, 96});
  std::mt19937 rng(5);
  std::normal_distribution<float> nd;
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = nd(rng);
  write_raw(dir / "x.f32", x);
  write_raw(dir / "logits.f32", m.net->forward(x, false).at(0).to(Device::CPU));
  std::string log;
  const int rc = run_check("--model " + (dir / "m.onnx").string() + " --input " +
                               (dir / "x.f32").string() + " --shape 1,1,96,96,96 --expect logits=" +
                               (dir / "logits.f32").string() + " --rtol 1e-4",
                           &log);
  EXPECT_EQ(rc, 0) << log;
  EXPECT_NE(log.find("\"logits\": [1, 2, 96, 96, 96]"), std::string::npos) << log;
  std::cout << "[ 96^3 ] " << log;
}

TEST(OnnxExport, CommandErrors) {
  const fs::path dir = test::fresh_dir("onnx_cli_errors");
  test::CliResult r = test::run_useg("export --model " + (dir / "none").string() +
                                     " --format onnx --output " + (dir / "m.onnx").string());
  EXPECT_EQ(r.status, 2) << r.output;
  std::string why;
  if (onnx_export_available(&why))
    EXPECT_NE(r.output.find("is not a model folder"), std::string::npos) << r.output;
  else
    EXPECT_NE(r.output.find("built without ONNX support"), std::string::npos) << r.output;
  r = test::run_useg("export --model " + dir.string() + " --format tflite --output x");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_FALSE(fs::exists(dir / "m.onnx"));
}

}  // namespace
}  // namespace useg
