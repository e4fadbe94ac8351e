// The whole network on CUDA against the CPU, from the same weights: the training forward (every
// deep-supervision head), the Dice + cross-entropy loss and its gradient, the backward (every
// parameter's gradient, each reported once by the grad_ready hook), BatchNorm's running
// statistics, gradient clipping, an SGD step, and the eval forward after it. The op cases check
// each op alone; this checks what the layers above do with them on a device (uploads,
// downloads, scratch buffers, stream order). Under cudacpu (kernels on the CPU, streams that run
// late, device memory the host cannot read) and on a GPU (gpu-check's tests stage runs *Cuda*).
// The CUDA backend runs fp32 convolutions (no TF32) so that float tolerances apply. Without a
// CUDA backend (the CPU-only tree's useg_tests) the tests skip.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/compare.h"
#include "common/shapes.h"
#include "nn/optimizer.h"
#include "useg/backend.h"
#include "useg/model.h"

namespace useg::test {
namespace {

// Class indices 0..classes-1 of shape [N, 1, D, H, W], a fixed pattern.
Tensor class_target(const Shape& s, int classes) {
  Tensor t = Tensor::zeros(Shape{s.n(), 1, s.d(), s.h(), s.w()});
  float* p = t.data();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = float((i * 7 / 5 + i / 13) % classes);
  return t;
}

struct Side {
  std::unique_ptr<Backend> be;
  std::unique_ptr<Network> net;
  std::unique_ptr<Optimizer> opt;
  std::vector<Tensor> out;         // training forward, on the host
  double loss = 0;
  std::vector<std::string> reported;
};

// One training step and an eval forward on `device`, from the CPU network's weights.
void run_side(Side& s, Device device, const ModelConfig& c,
              const std::map<std::string, Tensor>& weights, const Tensor& x, const Tensor& t) {
  BackendOptions o;
  o.precision = "fp32";
  s.be = make_backend(device, o);
  s.net = std::make_unique<Network>(c, *s.be);
  s.net->load_state(weights, "the CPU network's weights");
  OptimizerConfig oc;
  oc.type = "sgd";
  oc.momentum = 0.9f;
  s.opt = std::make_unique<Optimizer>(oc, s.net->parameters(), *s.be);

  const Tensor xd = x.to(device), td = t.to(device);
  std::vector<Tensor> out = s.net->forward(xd, true);
  for (const Tensor& o : out) s.out.push_back(o.to(Device::CPU));
  LossSpec spec;
  spec.kind = LossKind::DiceCE;
  Tensor g = Tensor::empty(out[0].shape(), device);
  s.loss = s.be->loss_forward_backward(spec, out[0], td, &g);
  std::vector<Tensor> d(out.size());  // the lower heads get no gradient (their grads are zeroed)
  d[0] = g;
  s.net->backward(d, false, [&](Parameter& p) { s.reported.push_back(p.name); });
}

void expect_cuda_matches_cpu(const ModelConfig& c, const Shape& xs, uint32_t seed) {
  std::string why;
  if (!device_available(Device::CUDA, &why)) GTEST_SKIP() << "CUDA unavailable: " << why;
  std::map<std::string, Tensor> weights;
  {
    auto be = make_backend(Device::CPU);
    Network init(c, *be);
    init.init_weights(seed);
    for (auto& [name, value] : init.state_dict()) weights[name] = value;
  }
  const Tensor x = random_tensor(xs, seed + 1);
  const Tensor t = class_target(xs, c.num_classes);
  Side cpu, cuda;
  run_side(cpu, Device::CPU, c, weights, x, t);
  run_side(cuda, Device::CUDA, c, weights, x, t);

  const Tolerance act{1e-4, 1e-3};
  ASSERT_EQ(cuda.out.size(), cpu.out.size());
  for (size_t i = 0; i < cpu.out.size(); ++i)
    EXPECT_ALLCLOSE(cuda.out[i], cpu.out[i], act) << "training forward, output " << i;
  EXPECT_NEAR(cuda.loss, cpu.loss, 1e-5 * std::abs(cpu.loss) + 1e-6);
  EXPECT_EQ(cuda.reported, cpu.reported) << "grad_ready reports";

  std::vector<Parameter*> pc = cpu.net->parameters(), pd = cuda.net->parameters();
  ASSERT_EQ(pd.size(), pc.size());
  ASSERT_EQ(cpu.reported.size(), pc.size());
  // Each gradient within 1e-3 of its own largest element, or (the floor) within 1e-6 of the
  // largest gradient anywhere: a convolution's bias before a norm has a gradient of exactly 0
  // in exact arithmetic (the norm removes any constant), so both devices give rounding noise
  // there (about 3e-7 of the largest gradient, measured).
  double largest = 0;
  for (Parameter* p : pc) largest = std::max(largest, max_abs(p->grad));
  for (size_t i = 0; i < pc.size(); ++i) {
    ASSERT_TRUE(pd[i]->grad.defined()) << pd[i]->name;
    const double scale = std::max(max_abs(pc[i]->grad), 1e-3 * largest);
    EXPECT_ALLCLOSE(pd[i]->grad.to(Device::CPU), pc[i]->grad, (Tolerance{1e-3 * scale, 0}))
        << pc[i]->name << " (largest element " << max_abs(pc[i]->grad) << ")";
  }
  std::vector<Parameter*> bc = cpu.net->buffers(), bd = cuda.net->buffers();
  ASSERT_EQ(bd.size(), bc.size());
  for (size_t i = 0; i < bc.size(); ++i)
    EXPECT_ALLCLOSE(bd[i]->value.to(Device::CPU), bc[i]->value, act) << bc[i]->name;

  const double norm_cpu = cpu.opt->clip_grad_norm(0.5), norm_cuda = cuda.opt->clip_grad_norm(0.5);
  EXPECT_NEAR(norm_cuda, norm_cpu, 1e-4 * norm_cpu);
  cpu.opt->step(0.05);
  cuda.opt->step(0.05);
  for (size_t i = 0; i < pc.size(); ++i)
    EXPECT_ALLCLOSE(pd[i]->value.to(Device::CPU), pc[i]->value, Tolerance{1e-5, 1e-4})
        << pc[i]->name << " after the step";

  const Tensor eval_cpu = cpu.net->forward(x, false)[0];
  const Tensor eval_cuda = cuda.net->forward(x.to(Device::CUDA), false)[0].to(Device::CPU);
  EXPECT_ALLCLOSE(eval_cuda, eval_cpu, act) << "eval forward after the step";
}

// 2D: instance norm, leaky ReLU, deep supervision (3 heads), 3 classes.
TEST(CudaNetwork, UNet2dTrainingStepMatchesTheCpu) {
  ModelConfig c;
  c.dims = 2;
  c.in_channels = 1;
  c.num_classes = 3;
  c.base_filters = 8;
  c.depth = 3;
  c.deep_supervision = true;
  expect_cuda_matches_cpu(c, Shape{2, 1, 1, 32, 24}, 11);
}

// 3D: batch norm (running statistics, then the eval forward uses them), residual blocks, ReLU,
// two input channels, anisotropic pooling.
TEST(CudaNetwork, UNet3dBatchNormResidualTrainingStepMatchesTheCpu) {
  ModelConfig c;
  c.dims = 3;
  c.in_channels = 2;
  c.num_classes = 2;
  c.base_filters = 4;
  c.depth = 2;
  c.norm = NormKind::Batch;
  c.residual = true;
  c.activation = Activation::ReLU;
  c.pool_sizes = {{1, 2, 2}, {2, 2, 2}};
  c.kernel_sizes = {{1, 3, 3}, {3, 3, 3}, {3, 3, 3}};
  expect_cuda_matches_cpu(c, Shape{2, 2, 4, 16, 12}, 21);
}

}  // namespace
}  // namespace useg::test
