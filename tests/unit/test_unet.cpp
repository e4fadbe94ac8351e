// The U-Net as a whole: parameter counts against PyTorch's, a finite-difference check of the
// composed backward (residual, deep supervision, dropout, batch norm; and nnunet_resenc, whose
// skips average-pool), overfitting one batch, bit-identical reruns, and clear errors for
// weights that do not fit the config.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <string>

#include "common/compare.h"
#include "common/shapes.h"
#include "useg/error.h"
#include "useg/model.h"
#include "nn/optimizer.h"

namespace useg {
namespace {

ModelConfig tiny2d() {
  ModelConfig c;
  c.dims = 2;
  c.in_channels = 1;
  c.num_classes = 2;
  c.base_filters = 8;
  c.depth = 2;
  c.convs_per_stage = 2;
  return c;
}

// The counts PyTorch reports for scripts/make_golden.py's modules (printed by the generator).
TEST(UNet, ParameterCountMatchesPyTorch) {
  auto be = make_backend(Device::CPU);
  ModelConfig a;  // unet2d_bn
  a.dims = 2; a.in_channels = 2; a.num_classes = 3; a.base_filters = 4; a.depth = 3;
  a.max_filters = 12; a.norm = NormKind::Batch;
  EXPECT_EQ(Network(a, *be).num_parameters(), 13367);
  EXPECT_EQ(summarize(a).params, 13367);
  ModelConfig b;  // unet3d_in
  b.dims = 3; b.in_channels = 1; b.num_classes = 2; b.base_filters = 4; b.depth = 2;
  b.max_filters = 16; b.activation = Activation::ReLU; b.residual = true;
  b.deep_supervision = true;
  b.pool_sizes = {{1, 2, 2}, {2, 2, 2}};
  b.kernel_sizes = {{1, 3, 3}, {3, 3, 3}, {3, 3, 3}};
  EXPECT_EQ(Network(b, *be).num_parameters(), 20552);
  EXPECT_EQ(summarize(b).params, 20552);
  ModelConfig c;  // unet2d_in
  c.dims = 2; c.base_filters = 8; c.depth = 2; c.convs_per_stage = 1;
  EXPECT_EQ(Network(c, *be).num_parameters(), 14434);
  EXPECT_EQ(summarize(c).params, 14434);
}

TEST(UNet, SummaryReceptiveFieldAndFlops) {
  ModelConfig c = tiny2d();  // 2 convs 3x3 per stage, depth 2, pools 2
  ModelSummary s = summarize(c);
  // enc0: +4, pool: +1 (jump 2), enc1: +8, pool: +2 (jump 4), bottleneck: +16,
  // dec1 (jump 2): +8, dec0 (jump 1): +4  -> 1 + 43 = 44
  EXPECT_EQ(s.receptive_field[1], 44);
  EXPECT_EQ(s.receptive_field[0], 1);
  EXPECT_EQ(s.size_multiple[2], 4);
  // enc0 first conv: 2 * 1 * 8 * 9 FLOPs per voxel
  EXPECT_NEAR(s.stages[0].flops_per_voxel, 2.0 * 1 * 8 * 9 + 2.0 * 8 * 8 * 9, 1e-9);
}

// Loss = sum(out_k * R_k) so dLoss/dout_k = R_k; compares backward with central differences.
// The forward runs in float32 and the network has ReLU kinks and max-pool switches, so single
// elements can be off when a perturbation crosses one: the check is norm-wise over every sampled
// element (||analytic - fd|| / ||fd|| < 1e-2), plus 90% of elements within 5% each.
void expect_backward_matches_fd(const ModelConfig& c, const Shape& xs, size_t n_outputs,
                                const char* what) {
  auto be = make_backend(Device::CPU);
  Network net(c, *be);
  net.init_weights(7);
  Tensor x = test::random_tensor(xs, 1);
  auto eval = [&](const Tensor& in) {
    net.set_dropout_seed(99);  // the same dropout masks on every forward
    return net.forward(in, true);
  };
  std::vector<Tensor> outs = eval(x);
  ASSERT_EQ(outs.size(), n_outputs);
  std::vector<Tensor> R;
  for (size_t k = 0; k < outs.size(); ++k) R.push_back(test::random_tensor(outs[k].shape(), 10 + k));
  Tensor dx = net.backward(R, true);
  std::vector<Parameter*> ps = net.parameters();
  std::vector<Tensor> grads;
  for (Parameter* p : ps) grads.push_back(p->grad.clone());
  auto loss = [&](const Tensor& in) {
    std::vector<Tensor> o = eval(in);
    double l = 0;
    for (size_t k = 0; k < o.size(); ++k)
      for (int64_t i = 0; i < o[k].numel(); ++i) l += double(o[k].data()[i]) * R[k].data()[i];
    return l;
  };
  const double h = 5e-4;  // error ~ h through kinks; float32 noise ~ 1e-3 at this h
  std::vector<std::pair<double, double>> pairs;  // (analytic, finite difference)
  const int64_t step = std::max<int64_t>(11, x.numel() / 35 | 1);
  for (int64_t i = 0; i < x.numel(); i += step) {
    Tensor xp = x.clone(), xm = x.clone();
    xp.data()[i] += h;
    xm.data()[i] -= h;
    pairs.emplace_back(dx.data()[i], (loss(xp) - loss(xm)) / (2 * h));
  }
  size_t n_input = pairs.size();
  // Every 4th parameter tensor (convs, norm scales and shifts, the residual skip, the
  // deep-supervision head), a few elements each.
  for (size_t pi = 0; pi < ps.size(); pi += 4) {
    Parameter* p = ps[pi];
    for (int64_t i = 0; i < p->value.numel(); i += std::max<int64_t>(1, p->value.numel() / 3)) {
      float orig = p->value.data()[i];
      p->value.data()[i] = orig + float(h);
      double lp = loss(x);
      p->value.data()[i] = orig - float(h);
      double lm = loss(x);
      p->value.data()[i] = orig;
      pairs.emplace_back(grads[pi].data()[i], (lp - lm) / (2 * h));
    }
  }
  double num = 0, den = 0;
  size_t close = 0;
  for (auto [a, f] : pairs) {
    num += (a - f) * (a - f);
    den += f * f;
    if (std::fabs(a - f) <= 5e-2 * std::max(1.0, std::fabs(f))) ++close;
  }
  double rel = std::sqrt(num / den);
  EXPECT_LT(rel, 1e-2) << "norm-wise relative error over " << pairs.size() << " elements";
  EXPECT_GE(close, pairs.size() * 9 / 10) << close << " of " << pairs.size() << " within 5%";
  EXPECT_GT(n_input, 10u);
  EXPECT_GT(pairs.size() - n_input, 20u);
  std::printf("[fd] %s backward vs central differences: %zu elements, norm-wise rel error %.2e\n",
              what, pairs.size(), rel);
}

TEST(UNet, BackwardMatchesFiniteDifferences) {
  ModelConfig c = tiny2d();
  c.in_channels = 2;
  c.num_classes = 3;
  c.base_filters = 3;
  c.residual = true;
  c.deep_supervision = true;
  c.dropout = 0.2f;
  c.norm = NormKind::Batch;
  expect_backward_matches_fd(c, Shape{2, 2, 1, 8, 12}, 2, "U-Net");
}

// nnU-Net's ResidualEncoderUNet trains like any graph: its average-pooled skips ([1, 2, 2] with
// a 1x1 projection, [1, 2, 1] without), the stem's projection at stride 1 and two-block stages.
TEST(UNet, NnunetResencBackwardMatchesFiniteDifferences) {
  ModelConfig c;
  c.architecture = "nnunet_resenc";
  c.dims = 2;
  c.in_channels = 2;
  c.num_classes = 3;
  c.depth = 2;
  c.features_per_stage = {3, 5, 5};
  c.stem_channels = 4;
  c.n_blocks_per_stage = {1, 2, 1};
  c.n_conv_per_stage_decoder = {1, 1};
  c.pool_sizes = {{1, 2, 2}, {1, 2, 1}};
  // Batch norm as in the U-Net's check: instance norm over a few voxels per plane curves so
  // strongly that central differences at h = 5e-4 drift by a few percent.
  c.norm = NormKind::Batch;
  expect_backward_matches_fd(c, Shape{2, 2, 1, 8, 12}, 1, "nnunet_resenc");
}

std::vector<double> overfit_losses(uint64_t seed, int steps) {
  auto be = make_backend(Device::CPU);
  ModelConfig c = tiny2d();
  Network net(c, *be);
  net.init_weights(seed);
  // A fixed batch: two 32x32 images with a bright disc (class 1) on noise.
  Tensor x = test::random_tensor(Shape{2, 1, 1, 32, 32}, 3, -0.3f, 0.3f);
  Tensor t = Tensor::zeros(Shape{2, 1, 1, 32, 32});
  for (int n = 0; n < 2; ++n)
    for (int y = 0; y < 32; ++y)
      for (int xx = 0; xx < 32; ++xx) {
        double cy = 12 + 8 * n, cx = 14 + 4 * n;
        if ((y - cy) * (y - cy) + (xx - cx) * (xx - cx) < 36) {
          t.at(n, 0, 0, y, xx) = 1.f;
          x.at(n, 0, 0, y, xx) += 1.f;
        }
      }
  OptimizerConfig oc;
  oc.type = "adam";
  Optimizer opt(oc, net.parameters(), *be);
  std::vector<double> losses;
  LossSpec spec;
  spec.kind = LossKind::CrossEntropy;
  for (int s = 0; s < steps; ++s) {
    std::vector<Tensor> out = net.forward(x, true);
    Tensor g = Tensor::empty(out[0].shape());
    losses.push_back(be->loss_forward_backward(spec, out[0], t, &g));
    net.backward({g});
    opt.clip_grad_norm(12.0);
    opt.step(1e-2);
  }
  return losses;
}

TEST(UNet, OverfitsOneBatchAndRerunsAreBitIdentical) {
  std::vector<double> a = overfit_losses(5, 60);
  std::vector<double> b = overfit_losses(5, 60);
  EXPECT_LT(a.back(), a.front() / 10) << "loss went from " << a.front() << " to " << a.back();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "step " << i;
}

// Network::backward's grad_ready hook (data-parallel training sums the gradients it reports
// while the backward goes on): every learnable parameter exactly once, none of the buffers, each
// gradient already final when reported (equal to what the backward ends with), the last layers
// before the first, and nothing changed by the hook. A deep-supervision head given no gradient
// is reported too (its gradients are zeroed).
TEST(UNet, BackwardReportsEachGradientOnceWhenItIsFinal) {
  auto be = make_backend(Device::CPU);
  ModelConfig c = tiny2d();
  c.depth = 3;
  c.norm = NormKind::Batch;
  c.deep_supervision = true;
  Network net(c, *be);
  net.init_weights(3);
  const Tensor x = test::random_tensor(Shape{2, 1, 1, 16, 16}, 5);
  std::vector<Tensor> out = net.forward(x, true);
  ASSERT_EQ(out.size(), 3u);
  std::vector<Tensor> d = {test::random_tensor(out[0].shape(), 6),
                           test::random_tensor(out[1].shape(), 7), Tensor()};
  std::vector<std::string> order;
  std::map<std::string, Tensor> at_report;
  net.backward(d, false, [&](Parameter& p) {
    order.push_back(p.name);
    EXPECT_TRUE(p.grad.defined()) << p.name;
    EXPECT_EQ(at_report.count(p.name), 0u) << p.name << " reported twice";
    at_report[p.name] = p.grad.clone();
  });
  const std::vector<Parameter*> params = net.parameters();
  ASSERT_EQ(order.size(), params.size());
  for (Parameter* p : params) {
    ASSERT_EQ(at_report.count(p->name), 1u) << p->name << " never reported";
    EXPECT_TRUE(test::allclose(at_report[p->name], p->grad, {0, 0})) << p->name << " changed after";
  }
  for (Parameter* b : net.buffers()) EXPECT_EQ(at_report.count(b->name), 0u) << b->name;
  // Reverse order: the first encoder convolution's parameters come last, those of a node after
  // the bottleneck first.
  std::printf("      reported first: %s, last: %s\n", order.front().c_str(), order.back().c_str());
  EXPECT_TRUE(order.back() == params[0]->name || order.back() == params[1]->name) << order.back();
  auto index = [&](const std::string& name) {
    for (size_t i = 0; i < params.size(); ++i)
      if (params[i]->name == name) return i;
    return params.size();
  };
  EXPECT_GT(index(order.front()), params.size() / 2) << order.front();

  // The same backward without the hook gives the same gradients.
  out = net.forward(x, true);
  net.backward(d);
  for (Parameter* p : params)
    EXPECT_TRUE(test::allclose(at_report[p->name], p->grad, {0, 0})) << p->name;
}

TEST(UNet, LoadStateErrorsNameTheTensor) {
  auto be = make_backend(Device::CPU);
  Network net(tiny2d(), *be);
  auto sd = net.state_dict();
  std::map<std::string, Tensor> m(sd.begin(), sd.end());
  auto expect_error = [&](std::map<std::string, Tensor> t, const std::string& what) {
    try {
      net.load_state(t, "w.safetensors");
      FAIL() << "expected an error containing " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  auto missing = m;
  missing.erase("head.weight");
  expect_error(missing, "w.safetensors: missing tensors for this model config: head.weight");
  auto extra = m;
  extra["encoder.9.blocks.0.conv.weight"] = Tensor::zeros(Shape{1});
  expect_error(extra, "tensors not in this model config: encoder.9.blocks.0.conv.weight");
  auto wrong = m;
  wrong["head.bias"] = Tensor::zeros(Shape{3});
  expect_error(wrong, "tensor 'head.bias' has shape [3], the model config expects [2]");
  net.load_state(m, "ok");  // the untouched state loads
}

TEST(UNet, InputSizeMustBeAMultipleOfThePools) {
  auto be = make_backend(Device::CPU);
  Network net(tiny2d(), *be);
  try {
    net.forward(Tensor::zeros(Shape{1, 1, 1, 30, 32}), false);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("spatial size 30 on axis H must be a multiple of 4"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace useg
