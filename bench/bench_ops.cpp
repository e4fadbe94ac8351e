// Throughput of the backend ops on U-Net-sized tensors, on one device:
//   useg_bench_ops [cpu|cuda] [--scale S] [--repeat N] [--precision fp32|tf32|fp16|bf16]
// Each op runs once to warm up (cuDNN plans, allocator cache), then N times; the median time per
// call is printed with the bytes the op must move at least (inputs + outputs, float32), as GB/s.
// Shapes: 2D [4, 32, 1, 256*S, 256*S] and 3D [1, 32, 64*S, 64*S, 64*S] activations.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "useg/backend.h"
#include "useg/error.h"

namespace {

using namespace useg;

Tensor random_on(Device d, const Shape& s, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  Tensor t = Tensor::empty(s);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = u(rng);
  return t.to(d);
}

struct Bench {
  Backend& be;
  int repeat;
  void run(const std::string& name, const Shape& s, double bytes, const std::function<void()>& f) {
    try {
      f();
      be.synchronize();
      std::vector<double> ms;
      for (int i = 0; i < repeat; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        f();
        be.synchronize();
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                               t0).count());
      }
      std::sort(ms.begin(), ms.end());
      const double med = ms[ms.size() / 2];
      std::printf("%-28s %-24s %10.3f ms %9.1f GB/s\n", name.c_str(), s.str().c_str(), med,
                  bytes / (med * 1e-3) / 1e9);
    } catch (const Error& e) {
      std::printf("%-28s %-24s unavailable: %s\n", name.c_str(), s.str().c_str(), e.what());
    }
  }
};

void bench_shape(Bench& b, Device d, const Shape& s, const ConvGeom& g3, const PoolGeom& pg) {
  Backend& be = b.be;
  const double fb = double(s.numel()) * 4;
  const int64_t C = s.c();
  Tensor x = random_on(d, s, 1), dy = random_on(d, s, 2), y = Tensor::empty(s, d);
  Tensor dx = Tensor::empty(s, d);
  Tensor w = random_on(d, Shape{C, C, g3.kernel[0], g3.kernel[1], g3.kernel[2]}, 3, -0.1f, 0.1f);
  Tensor bias = random_on(d, Shape{C}, 4), dw = Tensor::empty(w.shape(), d);
  Tensor db = Tensor::empty(Shape{C}, d);
  b.run("conv_forward", s, 2 * fb, [&] { be.conv_forward(x, w, &bias, y, g3); });
  b.run("conv_backward_data", s, 2 * fb, [&] { be.conv_backward_data(dy, w, dx, g3); });
  b.run("conv_backward_weights", s, 2 * fb,
        [&] { be.conv_backward_weights(x, dy, dw, &db, g3); });
  Tensor gamma = random_on(d, Shape{C}, 5), beta = random_on(d, Shape{C}, 6);
  const Shape gs{s.n() * C};
  Tensor mean = Tensor::empty(gs, d), invstd = Tensor::empty(gs, d);
  Tensor dgamma = Tensor::empty(Shape{C}, d), dbeta = Tensor::empty(Shape{C}, d);
  b.run("instance_norm_forward", s, 3 * fb,
        [&] { be.instance_norm_forward(x, &gamma, &beta, 1e-5f, y, &mean, &invstd); });
  b.run("instance_norm_backward", s, 5 * fb, [&] {
    be.instance_norm_backward(x, dy, &gamma, mean, invstd, dx, &dgamma, &dbeta);
  });
  b.run("leaky_relu_forward", s, 2 * fb,
        [&] { be.activation_forward(Activation::LeakyReLU, 0.01f, x, y); });
  b.run("leaky_relu_backward", s, 3 * fb,
        [&] { be.activation_backward(Activation::LeakyReLU, 0.01f, x, y, dy, dx); });
  const Shape ps = pool_output_shape(s, pg);
  Tensor py = Tensor::empty(ps, d), pdy = random_on(d, ps, 7);
  b.run("maxpool_forward", s, fb * 1.25, [&] { be.maxpool_forward(x, py, pg); });
  b.run("maxpool_backward", s, fb * 2.25, [&] { be.maxpool_backward(x, pdy, dx, pg); });
  ConvGeom up;
  up.kernel = pg.kernel;
  up.stride = pg.stride;
  Tensor uw = random_on(d, Shape{C, C, up.kernel[0], up.kernel[1], up.kernel[2]}, 8);
  b.run("deconv_forward", ps, fb * 1.25, [&] { be.deconv_forward(py, uw, &bias, y, up); });
  const Shape ls{s.n(), 4, s.d(), s.h(), s.w()}, lab{s.n(), 1, s.d(), s.h(), s.w()};
  Tensor logits = random_on(d, ls, 9), dlogits = Tensor::empty(ls, d);
  Tensor labels = Tensor::zeros(lab);
  for (int64_t i = 0; i < labels.numel(); ++i) labels.data()[i] = float(i % 4);
  labels = labels.to(d);
  LossSpec spec;  // DiceCE
  b.run("loss dice_ce (4 classes)", ls, double(ls.numel()) * 8 + double(lab.numel()) * 4,
        [&] { be.loss_forward_backward(spec, logits, labels, &dlogits); });
  b.run("softmax_channels (4)", ls, double(ls.numel()) * 8,
        [&] { be.softmax_channels(logits, dlogits); });
  if (d != Device::CPU) {
    const Tensor h = x.to(Device::CPU);
    b.run("upload (host -> device)", s, fb, [&] { (void)h.to(d); });
    b.run("download (device -> host)", s, fb, [&] { (void)x.to(Device::CPU); });
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Device d = Device::CPU;
    double scale = 1;
    int repeat = 10;
    BackendOptions opts;
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--scale" && i + 1 < argc) scale = std::atof(argv[++i]);
      else if (a == "--repeat" && i + 1 < argc) repeat = std::max(1, std::atoi(argv[++i]));
      else if (a == "--precision" && i + 1 < argc) opts.precision = argv[++i];
      else d = parse_device(a);
    }
    auto be = make_backend(d, opts);
    std::printf("useg_bench_ops: device %s, median of %d calls\n", be->name().c_str(), repeat);
    Bench b{*be, repeat};
    ConvGeom g2;
    g2.kernel = {1, 3, 3};
    g2.pad = {0, 1, 1};
    PoolGeom p2;
    const int64_t e2 = int64_t(256 * scale), e3 = int64_t(64 * scale);
    bench_shape(b, d, Shape{4, 32, 1, e2, e2}, g2, p2);
    ConvGeom g3;
    g3.kernel = {3, 3, 3};
    g3.pad = {1, 1, 1};
    PoolGeom p3;
    p3.kernel = {2, 2, 2};
    p3.stride = {2, 2, 2};
    bench_shape(b, d, Shape{1, 32, e3, e3, e3}, g3, p3);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "useg_bench_ops: %s\n", e.what());
    return 2;
  }
}
