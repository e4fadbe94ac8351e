// `useg bench`: wall time of a U-Net forward (or a full training step) on the CPU backend, per
// layer and in total, with analytic FLOPs, GFLOP/s and peak RSS. scripts/bench_peers.py runs it
// interleaved with PyTorch and ONNX Runtime on the same architecture and weights.
//
// Forward: the backend's whole-network inference plan (what Network::forward runs in eval mode),
// or with --no-plan the per-op forward. Training (--train): forward, DiceCE loss, backward and an
// Adam step. The per-layer profile of the per-op paths comes from an OpTimer installed in the
// backend for the timed runs (each op then synchronizes); --no-layers installs none, so the
// totals are those of the network run as a user runs it.
#include <CLI/CLI.hpp>
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "cli/bench_profiler.h"
#include "config/json_writer.h"
#include "core/files.h"
#include "core/host_memory.h"
#include "cli/commands.h"
#include "useg/config.h"
#include "useg/error.h"
#include "useg/model.h"
#include "nn/optimizer.h"

namespace useg::cli {

namespace {

struct BenchArgs {
  std::string config, model, json, device = "cpu", precision, conv_algorithm;
  std::vector<int64_t> shape;
  int batch = 1, repeat = 5, warmup = 1, threads = 0;
  bool train = false, no_plan = false, no_layers = false, verbose = false;
};

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// User + system CPU time of the process so far, ms. With one thread it is a load-independent
// measure of work on a shared machine (wall time also counts the time other processes run).
double cpu_ms() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 +
         (u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-3;
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Deterministic pseudo-random values in [-1, 1) (or class labels) without <random>'s variance
// across standard libraries.
void fill_random(Tensor& t, uint64_t seed, int classes = 0) {
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  float* p = t.data();
  for (int64_t i = 0; i < t.numel(); ++i) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    double u = double(s >> 11) * (1.0 / 9007199254740992.0);
    p[i] = classes > 0 ? float(std::min<int64_t>(classes - 1, int64_t(u * classes)))
                       : float(2.0 * u - 1.0);
  }
}

struct Layer {
  std::string name;
  double ms = 0, gflop = 0;
};

void print_layers(const std::vector<Layer>& layers, int runs, double total_ms) {
  std::printf("%10s %6s %9s %9s  %s\n", "ms/run", "%", "GFLOP", "GFLOP/s", "layer");
  for (const Layer& l : layers) {
    double ms = l.ms / runs, gf = l.gflop / runs;
    std::printf("%10.2f %5.1f%% %9.3f %9s  %s\n", ms, 100.0 * ms / total_ms, gf,
                gf > 0 && ms > 0 ? std::to_string(int(gf / (ms * 1e-3) + 0.5)).c_str() : "",
                l.name.c_str());
  }
}

int run_bench(const BenchArgs& a) {
  USEG_REQUIRE(a.config.empty() != a.model.empty(), "bench: give exactly one of --config, --model");
  USEG_REQUIRE(a.repeat >= 1 && a.warmup >= 0 && a.batch >= 1,
               "bench: --repeat and --batch must "
               "be >= 1, --warmup >= 0");
  BackendOptions bo;
  bo.threads = a.threads;
  bo.precision = a.precision;
  bo.conv_algorithm = a.conv_algorithm;
  const Device dev = parse_device(a.device);
  auto backend = make_backend(dev, bo);
  // The per-layer profile of the per-op paths: every op synchronizes and is timed while the
  // timer is installed (the timed runs, unless --no-layers: then ops run as a user runs them).
  LayerTimer layer_timer;
  OpTimer* const timer = a.no_layers ? nullptr : &layer_timer;
  std::unique_ptr<Network> net;
  ModelConfig cfg;
  if (!a.model.empty()) {
    LoadedModel m = load_model_dir(a.model, *backend);
    net = std::move(m.net);
    cfg = m.info.model;
  } else {
    cfg = load_config(a.config).info.model;
    net = std::make_unique<Network>(cfg, *backend);
  }
  const int nsp = static_cast<int>(a.shape.size());
  USEG_REQUIRE(nsp == cfg.dims || (cfg.dims == 2 && nsp == 3),
               "bench: --shape needs " << cfg.dims << " sizes ("
                                       << (cfg.dims == 2 ? "H W" : "D H W") << ") for this "
                                       << cfg.dims << "D model, got " << nsp);
  Shape xs{a.batch, cfg.in_channels, nsp == 3 ? a.shape[0] : 1, a.shape[nsp - 2],
           a.shape[nsp - 1]};
  Tensor x = Tensor::empty(xs);
  fill_random(x, 1);
  x = x.to(dev);
  const int threads = omp_get_max_threads();
  ModelSummary summary = summarize(cfg);
  double fwd_gflop = summary.flops_per_voxel * double(xs.numel() / cfg.in_channels) * 1e-9;
  double gflop = a.train ? 3.0 * fwd_gflop : fwd_gflop;

  std::vector<double> times, cpu_times;
  std::vector<Layer> layers;
  double first_ms = 0;
  std::string what;
  std::unique_ptr<InferencePlan> plan;
  if (!a.train && !a.no_plan) plan = backend->compile(net->graph(), xs);
  if (a.train) {
    what = "training step (forward + DiceCE + backward + Adam)";
    OptimizerConfig oc;
    oc.type = "adam";
    Optimizer opt(oc, net->parameters(), *backend);
    Tensor target = Tensor::empty(Shape{xs[0], 1, xs[2], xs[3], xs[4]});
    fill_random(target, 2, cfg.num_classes);
    target = target.to(dev);
    auto step = [&] {
      std::vector<Tensor> outs = net->forward(x, true);
      std::vector<Tensor> grads(outs.size());
      grads[0] = Tensor::empty(outs[0].shape(), dev);
      LossSpec spec;
      backend->loss_forward_backward(spec, outs[0], target, &grads[0]);
      net->backward(grads);
      opt.step(1e-3);
      backend->synchronize();  // a device queues work: time it to the end
    };
    for (int i = 0; i < a.warmup; ++i) {
      auto t0 = Clock::now();
      step();
      if (i == 0) first_ms = ms_since(t0);
    }
    backend->set_op_timer(timer);
    for (int i = 0; i < a.repeat; ++i) {
      auto t0 = Clock::now();
      double c0 = cpu_ms();
      step();
      times.push_back(ms_since(t0));
      cpu_times.push_back(cpu_ms() - c0);
    }
    backend->set_op_timer(nullptr);
  } else if (plan) {
    what = "forward (inference plan)";
    std::vector<const Parameter*> all;
    for (Parameter* p : net->parameters()) all.push_back(p);
    for (Parameter* p : net->buffers()) all.push_back(p);
    Tensor y = Tensor::empty(Shape{xs[0], cfg.num_classes, xs[2], xs[3], xs[4]});
    auto t0 = Clock::now();
    plan->set_weights(all);
    for (int i = 0; i < a.warmup; ++i) {
      plan->run(x, y);
      if (i == 0) first_ms = ms_since(t0);
    }
    plan->set_profiling(!a.no_layers);
    if (a.verbose) std::printf("inference plan steps:\n%s", plan->describe().c_str());
    for (int i = 0; i < a.repeat; ++i) {
      auto t1 = Clock::now();
      double c0 = cpu_ms();
      plan->run(x, y);
      times.push_back(ms_since(t1));
      cpu_times.push_back(cpu_ms() - c0);
    }
    for (const auto& s : plan->step_times()) layers.push_back({s.name, s.ms, s.gflop});
  } else {
    what = "forward (per-op API path)";
    net->set_inference_plan(false);
    for (int i = 0; i < a.warmup; ++i) {
      auto t0 = Clock::now();
      net->forward(x, false);
      backend->synchronize();
      if (i == 0) first_ms = ms_since(t0);
    }
    backend->set_op_timer(timer);
    for (int i = 0; i < a.repeat; ++i) {
      auto t0 = Clock::now();
      double c0 = cpu_ms();
      net->forward(x, false);
      backend->synchronize();
      times.push_back(ms_since(t0));
      cpu_times.push_back(cpu_ms() - c0);
    }
    backend->set_op_timer(nullptr);
  }
  if (layers.empty())
    for (const auto& e : layer_timer.entries())
      layers.push_back({e.key + (e.calls > a.repeat ? " (x" + std::to_string(e.calls / a.repeat) + ")" : ""),
                        e.ms, e.gflop});

  double med = median(times);
  std::string net_text;
  if (cfg.architecture == "layers")
    net_text = "classifier of " + std::to_string(cfg.layers.size()) + " layers";
  else
    net_text = std::string(cfg.classifier() ? "encoder classifier" : "U-Net") + " base " +
               std::to_string(cfg.base_filters) + " depth " + std::to_string(cfg.depth) + " (" +
               norm_name(cfg.norm) + " norm)";
  std::printf("useg bench: %dD %s, input %s, %s, on %s", cfg.dims, net_text.c_str(),
              xs.str().c_str(), what.c_str(), backend->name().c_str());
  if (dev == Device::CPU)
    std::printf(", %d threads\n", threads);
  else
    std::printf(" (%s)\n", a.precision.empty() ? "default precision" : a.precision.c_str());
  if (!a.no_layers) {
    std::printf("per layer (mean of %d runs):\n", a.repeat);
    print_layers(layers, a.repeat, med);
  }
  double mn = *std::min_element(times.begin(), times.end());
  double mx = *std::max_element(times.begin(), times.end());
  std::printf("first run: %.1f ms (includes building primitives and preparing weights)\n",
              first_ms);
  std::printf("total: median %.1f ms (min %.1f, max %.1f) over %d runs; %.2f GFLOP%s -> %.1f "
              "GFLOP/s\n",
              med, mn, mx, a.repeat, gflop, a.train ? " (3x forward)" : "", gflop / (med * 1e-3));
  std::printf("CPU time: median %.1f ms per run (all threads)\n", median(cpu_times));
  std::printf("peak RSS: %.0f MB\n", peak_rss_mb());
  {
    const HostCacheStats hc = host_cache_stats();
    std::printf("host block cache: %zu hits, %zu misses; %.0f MiB kept free, live peak %.0f MiB\n",
                hc.hits, hc.misses, hc.free_bytes / 1048576.0, hc.live_peak / 1048576.0);
  }
  // The planner's memory model of this step (useg plan), beside the measurement above; it counts
  // the step's tensors, not the process (libraries, primitives), so compare differences between
  // two shapes (scripts/check_memory_model.sh).
  TrainingMemory model_mem;
  if (a.train) {
    model_mem = training_step_memory(cfg, {xs[2], xs[3], xs[4]}, int(xs[0]));
    std::printf("memory model (useg plan): %.0f MiB activations + %.0f MiB parameters = %.0f MiB\n",
                model_mem.activation_bytes / 1048576.0, model_mem.parameter_bytes / 1048576.0,
                model_mem.total() / 1048576.0);
  }
  if (!a.json.empty()) {
    JsonValue layer_list = JsonValue::array();
    for (const Layer& l : layers)
      layer_list.push_back(JsonValue::object()
                               .set("name", l.name)
                               .set("ms", l.ms / a.repeat)
                               .set("gflop", l.gflop / a.repeat));
    JsonValue j = JsonValue::object();
    j.set("what", what)
        .set("device", backend->name())
        .set("precision", a.precision.empty() ? "default" : a.precision)
        .set("conv_algorithm", a.conv_algorithm.empty() ? "auto" : a.conv_algorithm)
        .set("input", xs.dims())
        .set("threads", threads)
        .set("times_ms", times)
        .set("median_ms", med)
        .set("cpu_ms", cpu_times)
        .set("first_ms", first_ms)
        .set("gflop", gflop)
        .set("gflops_per_s", gflop / (med * 1e-3))
        .set("peak_rss_mb", peak_rss_mb())
        .set("model_activation_mib", model_mem.activation_bytes / 1048576.0)
        .set("model_parameter_mib", model_mem.parameter_bytes / 1048576.0)
        .set("layers", std::move(layer_list));
    write_file_atomic(a.json, j.dump());
  }
  return 0;
}

}  // namespace

void register_bench_commands(CLI::App& app, std::function<int()>& run) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* c = app.add_subcommand(
      "bench", "Time a U-Net forward (or a training step) on a device: per layer and in total, "
               "with analytic GFLOP, GFLOP/s and peak RSS");
  c->add_option("--config", args->config, "model or run config (JSON); He-initialized weights");
  c->add_option("--model", args->model, "model folder (model.json + weights.safetensors)");
  c->add_option("--shape", args->shape, "spatial input size: H W (2D) or D H W (3D)")
      ->required()
      ->expected(2, 3);
  c->add_option("--batch", args->batch, "samples per run (default 1)");
  c->add_option("--repeat", args->repeat, "timed runs (default 5); the median is reported");
  c->add_option("--warmup", args->warmup, "untimed runs first (default 1)");
  c->add_option("--threads", args->threads, "OpenMP threads (default: the runtime's)");
  c->add_option("--device", args->device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  add_precision_option(c, args->precision);
  add_conv_algorithm_option(c, args->conv_algorithm);
  c->add_flag("--train", args->train, "time a training step: forward, loss, backward, Adam");
  c->add_flag("--no-plan", args->no_plan, "forward through the per-op API, not the plan");
  c->add_flag("--no-layers", args->no_layers, "print only the totals");
  c->add_flag("--verbose", args->verbose, "print the implementation chosen for every plan step");
  c->add_option("--json", args->json, "also write the results to this JSON file");
  c->callback([&run, args] { run = [args] { return run_bench(*args); }; });
}

}  // namespace useg::cli
