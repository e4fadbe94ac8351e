// Golden parity with PyTorch: scripts/make_golden.py (Debian's python3-torch, float64) wrote the
// weights, input, outputs, loss and gradients of scripts/torch_unet.py for three small U-Nets;
// useg must reproduce the forward within 1e-4 and the gradients within 1e-3, relative to the
// largest magnitude of each reference tensor.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "common/compare.h"
#include "common/devices.h"
#include "useg/config.h"
#include "core/files.h"
#include "useg/model.h"
#include "io/safetensors.h"

namespace useg {
namespace {

std::string golden_dir(const std::string& name) {
  return std::string(USEG_TEST_DATA) + "/golden/" + name;
}

// Relative-to-scale tolerance: |a - b| <= rel * max|b| (+ tiny absolute floor).
test::Tolerance scaled(const Tensor& ref, double rel) {
  double m = 0;
  for (float v : ref.to_vector()) m = std::max(m, double(std::fabs(v)));
  return test::Tolerance{rel * m + 1e-7, 0.0};
}

// Nearest downsampling of a label map [N,1,D,H,W] by integer factors (every f-th voxel).
Tensor downsample_labels(const Tensor& t, std::array<int64_t, 3> f) {
  const Shape& s = t.shape();
  Shape o{s[0], 1, (s[2] + f[0] - 1) / f[0], (s[3] + f[1] - 1) / f[1], (s[4] + f[2] - 1) / f[2]};
  Tensor r = Tensor::empty(o);
  for (int64_t n = 0; n < o[0]; ++n)
    for (int64_t z = 0; z < o[2]; ++z)
      for (int64_t y = 0; y < o[3]; ++y)
        for (int64_t x = 0; x < o[4]; ++x) r.at(n, 0, z, y, x) = t.at(n, 0, z * f[0], y * f[1], x * f[2]);
  return r;
}

Tensor as5d(const Tensor& t) {
  const Shape& s = t.shape();
  if (s.rank() == 2) return t.reshaped(Shape{s[0], s[1], 1, 1, 1});  // classifier [N, K]
  if (s.rank() != 4) return t;
  return t.reshaped(Shape{s[0], s[1], 1, s[2], s[3]});  // 2D NCHW
}

class Golden : public test::DeviceTest {};

void run_golden(Backend& be, const std::string& name) {
  std::string dir = golden_dir(name);
  ModelConfig cfg = parse_model_config(read_file(dir + "/config.json"), dir + "/config.json");
  Network net(cfg, be);
  SafetensorsFile weights = read_safetensors(dir + "/weights.safetensors");
  net.load_state(weights.tensors, dir + "/weights.safetensors");
  SafetensorsFile io = read_safetensors(dir + "/io.safetensors");
  auto get = [&](const std::string& k) {
    auto it = io.tensors.find(k);
    if (it == io.tensors.end()) throw std::runtime_error("golden file lacks " + k);
    return as5d(it->second);
  };
  std::vector<double> loss_weights =
      nlohmann::json::parse(io.metadata.at("loss_weights")).get<std::vector<double>>();

  // ---- training-mode forward
  Tensor x = get("input").to(be.device());
  std::vector<Tensor> outs = net.forward(x, /*training=*/true);
  ASSERT_EQ(outs.size(), loss_weights.size());
  Tensor ref_logits = get("logits");
  EXPECT_ALLCLOSE(outs[0], ref_logits, scaled(ref_logits, 1e-4)) << name << " logits";
  std::printf("[golden] %s forward max rel error %.2e\n", name.c_str(),
              test::max_rel_error(outs[0], ref_logits));
  for (size_t k = 1; k < outs.size(); ++k) {
    Tensor r = get("ds." + std::to_string(k));
    EXPECT_ALLCLOSE(outs[k], r, scaled(r, 1e-4)) << name << " deep supervision output " << k;
  }

  // ---- loss (weighted DiceCE over outputs, targets downsampled like the reference)
  Tensor target = get("target");
  double loss = 0;
  std::vector<Tensor> grads;
  std::array<int64_t, 3> factor{1, 1, 1};
  for (size_t k = 0; k < outs.size(); ++k) {
    if (k > 0) {
      auto p = cfg.pool_size(static_cast<int>(k) - 1);
      for (int a = 0; a < 3; ++a) factor[a] *= p[a];
    }
    Tensor tk = (k == 0 ? target : downsample_labels(target, factor)).to(be.device());
    LossSpec spec;
    spec.kind = io.metadata.count("loss") && io.metadata.at("loss") == "ce"
                    ? LossKind::CrossEntropy
                    : LossKind::DiceCE;
    spec.weight = static_cast<float>(loss_weights[k]);
    Tensor g = Tensor::empty(outs[k].shape(), be.device());
    loss += be.loss_forward_backward(spec, outs[k], tk, &g);
    grads.push_back(g);
  }
  double ref_loss = get("loss").to_vector()[0];
  EXPECT_NEAR(loss, ref_loss, 1e-5 * std::fabs(ref_loss)) << name << " loss";

  // ---- backward
  Tensor dx = net.backward(grads, /*need_input_grad=*/true);
  Tensor ref_dx = get("grad.input");
  EXPECT_ALLCLOSE(dx, ref_dx, scaled(ref_dx, 1e-3)) << name << " grad of input";
  double worst = test::max_rel_error(dx, ref_dx);
  // A conv bias followed by a norm has a zero gradient in exact arithmetic and float rounding
  // noise of ~1e-7 times the loss's gradient scale here: its floor is 1e-3 of the input
  // gradient's scale rather than of its own (zero) reference.
  const double floor = scaled(ref_dx, 1e-3).abs;
  for (Parameter* p : net.parameters()) {
    Tensor r = io.tensors.at("grad." + p->name);
    Tensor g = p->grad.reshaped(r.shape());
    test::Tolerance tol = scaled(r, 1e-3);
    tol.abs = std::max(tol.abs, std::min(floor, 1e-6));
    EXPECT_ALLCLOSE(g, r, tol) << name << " grad of " << p->name;
    // The bias of a conv followed by a norm has a zero gradient in exact arithmetic: its
    // reference is rounding noise, so it is checked (above) but left out of the relative figure.
    if (scaled(r, 1.0).abs > 1e-6) worst = std::max(worst, test::max_rel_error(g, r));
  }
  std::printf("[golden] %s gradient max rel error %.2e (input and %zu parameters)\n",
              name.c_str(), worst, net.parameters().size());
  for (Parameter* b : net.buffers()) {
    Tensor r = io.tensors.at("after." + b->name);
    EXPECT_ALLCLOSE(b->value, r, scaled(r, 1e-4)) << name << " updated " << b->name;
  }

  // ---- eval-mode forward from the original weights (BatchNorm uses running statistics)
  net.load_state(weights.tensors, dir + "/weights.safetensors");
  Tensor eval = net.forward(x, /*training=*/false)[0];
  Tensor ref_eval = get("eval_logits");
  EXPECT_ALLCLOSE(eval, ref_eval, scaled(ref_eval, 1e-4)) << name << " eval logits";

  // ---- state_dict order: PyTorch's, as the file's header lists it (the initialization and the
  // optimizer state follow this order)
  const std::string file = read_file(dir + "/weights.safetensors");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n * 256 + static_cast<unsigned char>(file[i]);
  std::vector<std::string> torch_params, torch_buffers, ours_params, ours_buffers;
  const nlohmann::ordered_json header = nlohmann::ordered_json::parse(file.substr(8, n));
  for (auto& item : header.items()) {
    const std::string& k = item.key();
    if (k == "__metadata__" || k.find("num_batches_tracked") != std::string::npos) continue;
    (k.find("running_") != std::string::npos ? torch_buffers : torch_params).push_back(k);
  }
  for (Parameter* p : net.parameters()) ours_params.push_back(p->name);
  for (Parameter* b : net.buffers()) ours_buffers.push_back(b->name);
  EXPECT_EQ(ours_params, torch_params) << name;
  EXPECT_EQ(ours_buffers, torch_buffers) << name;
}

TEST_P(Golden, Unet2dBatchNorm) { run_golden(backend(), "unet2d_bn"); }
TEST_P(Golden, Unet3dInstanceNormResidualDeepSupervision) { run_golden(backend(), "unet3d_in"); }
TEST_P(Golden, Unet2dInstanceNorm) { run_golden(backend(), "unet2d_in"); }
TEST_P(Golden, Unet2dTanhBatchNormResidual) { run_golden(backend(), "unet2d_tanh"); }
TEST_P(Golden, Unet3dSigmoidDeepSupervision) { run_golden(backend(), "unet3d_sigmoid"); }
TEST_P(Golden, Cnn2dLayersClassifier) { run_golden(backend(), "cnn2d_layers"); }
TEST_P(Golden, Cnn3dLayersBatchNormGlobalMaxPool) { run_golden(backend(), "cnn3d_layers_bn"); }
TEST_P(Golden, EncoderClassifier2d) { run_golden(backend(), "encoder2d_classifier"); }
USEG_INSTANTIATE_DEVICE_TEST(Golden);

}  // namespace
}  // namespace useg
