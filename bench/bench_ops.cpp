// Throughput of the backend ops on U-Net-sized tensors, on one device: the perf mode of the op
// harness (tests/harness/op_case.h), i.e. every perf case of the op folders' tables
// (src/ops/<op>/test*.cpp), plus the host <-> device copies.
//   useg_bench_ops [cpu|cuda] [--scale S] [--repeat N] [--precision fp32|tf32|fp16|bf16]
//                  [--op TEXT]
// Each case runs once to warm up (cuDNN plans, allocator cache), then N times; the median time
// per call is printed with the bytes the op must move at least (inputs + outputs, float32), as
// GB/s. Shapes: 2D [4, 32, 1, 256*S, 256*S] and 3D [1, 32, 64*S, 64*S, 64*S] activations.
// --op keeps the cases whose "<op>/<case>" name contains TEXT.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "harness/op_case.h"
#include "useg/backend.h"
#include "useg/error.h"

namespace {

using namespace useg;

struct Bench {
  Backend& be;
  int repeat;
  void run(const std::string& name, const std::function<test::PerfCall()>& setup) {
    try {
      const test::PerfCall p = setup();
      p.call();
      be.synchronize();
      std::vector<double> ms;
      for (int i = 0; i < repeat; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        p.call();
        be.synchronize();
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                               t0).count());
      }
      std::sort(ms.begin(), ms.end());
      const double med = ms[ms.size() / 2];
      std::printf("%-34s %-24s %10.3f ms %9.1f GB/s\n", name.c_str(), p.shape.str().c_str(), med,
                  p.bytes / (med * 1e-3) / 1e9);
    } catch (const Error& e) {
      std::printf("%-34s unavailable: %s\n", name.c_str(), e.what());
    }
  }
};

// The copies between host and device (not ops of the table, but what a window batch pays).
void bench_transfers(Bench& b, Device d, double scale) {
  for (bool three_d : {false, true}) {
    const Shape s = test::perf_shape(three_d, scale);
    const double bytes = double(s.numel()) * 4;
    const char* dims = three_d ? "_3d" : "_2d";
    b.run(std::string("upload (host -> device)") + dims, [&] {
      const Tensor h = test::random_tensor(s, 1);
      return test::PerfCall{s, bytes, [h, d] { (void)h.to(d); }};
    });
    b.run(std::string("download (device -> host)") + dims, [&] {
      const Tensor x = test::random_tensor(s, 2).to(d);
      return test::PerfCall{s, bytes, [x] { (void)x.to(Device::CPU); }};
    });
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Device d = Device::CPU;
    double scale = 1;
    int repeat = 10;
    std::string only;
    BackendOptions opts;
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--scale" && i + 1 < argc) scale = std::atof(argv[++i]);
      else if (a == "--repeat" && i + 1 < argc) repeat = std::max(1, std::atoi(argv[++i]));
      else if (a == "--precision" && i + 1 < argc) opts.precision = argv[++i];
      else if (a == "--op" && i + 1 < argc) only = argv[++i];
      else d = parse_device(a);
    }
    auto be = make_backend(d, opts);
    std::printf("useg_bench_ops: device %s, median of %d calls\n", be->name().c_str(), repeat);
    Bench b{*be, repeat};
    for (const test::OpCase& c : test::op_cases()) {
      const std::string name = c.op + "/" + c.name;
      if (c.mode != test::Mode::Perf || name.find(only) == std::string::npos) continue;
      b.run(name, [&] { return c.perf(*be, scale); });
    }
    if (d != Device::CPU && std::string("transfer").find(only) != std::string::npos)
      bench_transfers(b, d, scale);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "useg_bench_ops: %s\n", e.what());
    return 2;
  }
}
