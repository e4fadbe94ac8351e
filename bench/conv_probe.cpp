// conv_probe: one 3x3 convolution (default 32 -> 32 channels, 512 x 512, batch 1; with D > 1 a
// 3x3x3 convolution of a D x H x W volume) straight on oneDNN, in the layouts and data types
// that matter for useg's CPU backend, and useg's own Winograd convolution, to show what one conv
// reaches on this machine and which implementation runs it:
//   f32 blocked   (nChw8c / nChw16c activations, weights as chosen): the inference plan's
//                 direct case (--conv-algorithm direct)
//   f32 plain     (nchw activations, no reorders): what a plain-layout engine would get
//   bf16 any      (bf16 activations and weights, layouts chosen by oneDNN): the bf16 question
//   f32 winograd  useg's WinogradConv F(2,3) on the 8-channel blocked layout (AVX2 + FMA): the
//                 plan's default there; its GFLOP/s are the direct conv's FLOPs over its time
// Prints the implementation name (e.g. jit:avx2, gemm:jit, ref) and median time / GFLOP/s.
// Not a test: timings are never asserted. Run: build/bench/conv_probe [C] [H] [W] [reps] [D]
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <omp.h>

#include "cpu/winograd.h"

using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

namespace {

// Median milliseconds of `reps` calls of run() after one warm-up call.
template <class Run>
double median_ms(int reps, Run run) {
  std::vector<double> ms;
  for (int i = 0; i <= reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    run();
    if (i > 0)  // the first run is a warm-up
      ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// 2 x multiply-adds of the direct convolution.
double direct_gflop(memory::dim C, memory::dim D, memory::dim H, memory::dim W) {
  return 2.0 * C * C * (D > 1 ? 27 : 9) * D * H * W * 1e-9;
}

void probe(const char* label, engine& eng, stream& s, memory::dim C, memory::dim D,
           memory::dim H, memory::dim W, dt type, tag act, int reps) {
  const bool vol = D > 1;
  memory::dims src = vol ? memory::dims{1, C, D, H, W} : memory::dims{1, C, H, W};
  memory::dims wei = vol ? memory::dims{C, C, 3, 3, 3} : memory::dims{C, C, 3, 3}, bias{C};
  memory::dims one = vol ? memory::dims{1, 1, 1} : memory::dims{1, 1};
  memory::desc src_md(src, type, act), dst_md(src, type, act);
  memory::desc wei_md(wei, type, tag::any), bias_md(bias, dt::f32, tag::a);
  try {
    convolution_forward::desc d(prop_kind::forward_inference, algorithm::convolution_direct,
                                src_md, wei_md, bias_md, dst_md, one, one, one);
    convolution_forward::primitive_desc pd(d, eng);
    memory sm(pd.src_desc(), eng), wm(pd.weights_desc(), eng), bm(pd.bias_desc(), eng),
        dm(pd.dst_desc(), eng);
    // Zero-filled inputs are fine for timing (no denormals, no data-dependent paths).
    for (memory* m : {&sm, &wm, &bm})
      std::fill_n(static_cast<char*>(m->get_data_handle()), m->get_desc().get_size(), 0);
    convolution_forward conv(pd);
    const double med = median_ms(reps, [&] {
      conv.execute(s, {{DNNL_ARG_SRC, sm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_BIAS, bm},
                       {DNNL_ARG_DST, dm}});
      s.wait();
    });
    std::printf("%-14s %-22s %9.2f ms %8.1f GFLOP/s\n", label, pd.impl_info_str(), med,
                direct_gflop(C, D, H, W) / (med * 1e-3));
  } catch (const dnnl::error& e) {
    std::printf("%-14s not available: %s (status %d)\n", label, e.what(), int(e.status));
  }
}

void probe_winograd(memory::dim C, memory::dim D, memory::dim H, memory::dim W, int reps) {
  if (!useg::cpu::winograd_available()) {
    std::printf("%-14s not available: no AVX2 + FMA\n", "f32 winograd");
    return;
  }
  const bool vol = D > 1;
  useg::cpu::WinogradConv conv(C, C, {D, H, W}, {vol ? 3 : 1, 3, 3});
  std::vector<float> w(C * C * (vol ? 27 : 9), 0.f), b(C, 0.f);
  conv.set_weights(w.data(), b.data());
  const int64_t floats = (C + 7) / 8 * 8 * D * H * W;
  std::vector<float> x(floats, 0.f), y(floats), scratch;
  const int threads = omp_get_max_threads();
  scratch.resize(conv.scratch_floats(threads));
  const double med = median_ms(
      reps, [&] { conv.run(x.data(), y.data(), false, 0.f, scratch.data(), threads); });
  std::printf("%-14s %-22s %9.2f ms %8.1f GFLOP/s (direct-equivalent)\n", "f32 winograd",
              vol ? "useg F(2x2x2,3x3x3)" : "useg F(2x2,3x3)", med,
              direct_gflop(C, D, H, W) / (med * 1e-3));
}

}  // namespace

int main(int argc, char** argv) {
  memory::dim C = argc > 1 ? std::atol(argv[1]) : 32;
  memory::dim H = argc > 2 ? std::atol(argv[2]) : 512;
  memory::dim W = argc > 3 ? std::atol(argv[3]) : 512;
  int reps = argc > 4 ? std::atoi(argv[4]) : 9;
  memory::dim D = argc > 5 ? std::atol(argv[5]) : 1;
  engine eng(engine::kind::cpu, 0);
  stream s(eng);
  auto isa = get_effective_cpu_isa();
  bool wide = (static_cast<unsigned>(isa) & ~static_cast<unsigned>(cpu_isa::avx2)) != 0;
  std::printf("oneDNN %d.%d.%d, effective ISA code 0x%x (%s), conv %ldx%ld %s, %ld x %ld x %ld\n",
              version()->major, version()->minor, version()->patch, unsigned(isa),
              wide ? "wider than AVX2" : "AVX2 or narrower", long(C), long(C),
              D > 1 ? "3x3x3" : "3x3", long(D), long(H), long(W));
  const bool vol = D > 1;
  probe("f32 blocked", eng, s, C, D, H, W, dt::f32,
        wide ? (vol ? tag::nCdhw16c : tag::nChw16c) : (vol ? tag::nCdhw8c : tag::nChw8c), reps);
  probe("f32 plain", eng, s, C, D, H, W, dt::f32, vol ? tag::ncdhw : tag::nchw, reps);
  probe("bf16 any", eng, s, C, D, H, W, dt::bf16, tag::any, reps);
  probe_winograd(C, D, H, W, reps);
  return 0;
}
