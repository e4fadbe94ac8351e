// The op test harness (ggml's tests/test-backend-ops.cpp is the model): one table of cases, each
// op folder's test.cpp adding its own (src/ops/<op>/test.cpp), run in one of three modes:
//   eval  the op on a backend against the naive double reference of its folder (ref.h), and,
//         on every device other than the CPU, against the CPU backend's result of the same case
//         (the cross-device tolerances below);
//   grad  a backward op against central differences of the reference forward;
//   perf  the op at U-Net sizes, timed by useg_bench_ops (bench/bench_ops.cpp), never asserted.
// Every eval and grad case runs on every device as a gtest parameter (tests/harness/op_tests.cpp:
// cpu/OpEval.Run/<op>_<case>, cuda/OpGrad.Run/<op>_<case>, ...); a device without a backend in
// this build or on this machine makes its instances GTEST_SKIP with make_backend's reason. Under
// cudacpu (tests/cudacpu) the cuda instances execute our kernels on the CPU; on a GPU machine
// the very same binary runs them on the GPU.
//
// Cross-device tolerances (|device - cpu| <= abs + rel * |cpu|), from how the two may differ:
//   kExact      data movement, selections (argmax, max pooling, flip, concat), fill, dropout's
//               counter-based mask, add/mul (one IEEE rounding of the same operands)
//   kUlps       one fused multiply-add where the CPU rounds twice (axpy, the optimizer updates,
//               window accumulation): abs 1e-6 + rel 1e-6
//   kTranscend  expf / tanhf / logf of the device math library vs glibc (<= 2 ulp each), also for
//               softmax: abs 1e-6 + rel 1e-5
//   kNorm       double statistics reduced in another order, then a float apply: abs 2e-5 +
//               rel 1e-5 (outputs are O(1))
//   kSums       float results of double sums over up to ~4000 terms (dgamma, dbeta, dbias):
//               abs 1e-4 + rel 1e-5
// Every backend the harness makes computes in strict float32 (precision "fp32") unless a case
// asks for another precision (the TF32 and fp16/bf16 convolution cases): the CUDA backend's
// default, TF32, rounds convolution operands to a 10-bit mantissa, which float32 tolerances do
// not allow.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/compare.h"
#include "common/shapes.h"
#include "useg/backend.h"
#include "useg/tensor.h"

namespace useg::test {

constexpr Tolerance kExact{0, 0};
constexpr Tolerance kUlps{1e-6, 1e-6};
constexpr Tolerance kTranscend{1e-6, 1e-5};
constexpr Tolerance kNorm{2e-5, 1e-5};
constexpr Tolerance kSums{1e-4, 1e-5};

enum class Mode { Eval, Grad, Perf };

// What a case's body runs against: the backend under test, and the checks of its results.
class OpRun {
 public:
  // recording: the CPU run that a run on another device is compared with (its own checks are
  // not reported there; the cpu instance of the case reports them).
  OpRun(Backend& be, bool recording) : m_be(be), m_recording(recording) {}

  Backend& be() { return m_be; }
  Device device() const { return m_be.device(); }
  bool recording() const { return m_recording; }

  // Tensors on the backend's device: a copy of a host tensor (always a copy, also on the CPU, so
  // an op in place never changes the case's inputs), uninitialized, zeros, and NaN (outputs
  // start as garbage, so an op that leaves an element unwritten or accumulates fails).
  Tensor dev(const Tensor& host) const {
    return device() == host.device() ? host.clone() : host.to(device());
  }
  Tensor empty(const Shape& s) const { return Tensor::empty(s, device()); }
  Tensor zeros(const Shape& s) const { return Tensor::zeros(s, device()); }
  Tensor garbage(const Shape& s) const;
  static Tensor host(const Tensor& t) { return t.to(Device::CPU); }

  // `got` (on any device) against the reference `want` within `tol`; it is also kept under
  // `what`, and the harness compares it with the CPU backend's `what` within `vs_cpu` when this
  // run is on another device. `what` names the output in failure messages ("y", "dx relu", ...).
  void expect(const std::string& what, const Tensor& got, const Tensor& want, Tolerance tol,
              Tolerance vs_cpu);
  // A scalar result (a loss value, a sum of squares): |got - want| <= tol.abs + tol.rel * |want|.
  void expect_value(const std::string& what, double got, double want, Tolerance tol,
                    Tolerance vs_cpu);
  // Only the comparison with the CPU backend (no reference for this output).
  void keep(const std::string& what, const Tensor& got, Tolerance vs_cpu);

  struct Kept {
    Shape shape;
    std::vector<double> values;
    Tolerance vs_cpu;
  };
  const std::map<std::string, Kept>& kept() const { return m_kept; }

 private:
  void keep_values(const std::string& what, const Shape& s, std::vector<double> v, Tolerance t);

  Backend& m_be;
  bool m_recording;
  std::map<std::string, Kept> m_kept;
};

// One call of an op at benchmark size (perf mode): the tensors live in the closure.
struct PerfCall {
  Shape shape;                 // the shape printed with the time
  double bytes = 0;            // what the op must move at least (inputs + outputs, float32)
  std::function<void()> call;  // one call of the op
};

struct OpCase {
  std::string op;    // the op folder: "activation", "norm", "conv", ...
  std::string name;  // unique within the op: "forward_relu_n1_c3_d1_h7_w5"
  Mode mode = Mode::Eval;
  std::function<void(OpRun&)> run;                       // eval and grad
  std::function<PerfCall(Backend&, double scale)> perf;  // perf: operands at `scale`
  // The devices this case applies to (the fp16/bf16 and TF32 convolutions are CUDA's only).
  std::vector<Device> devices{Device::CPU, Device::CUDA};
  // BackendOptions::precision of the backend under test.
  std::string precision = "fp32";
};

using CaseList = std::vector<OpCase>;

// The case builders of the op folders (the registration sets OpCase::op to the folder's name).
OpCase eval_case(const std::string& name, std::function<void(OpRun&)> run);
OpCase grad_case(const std::string& name, std::function<void(OpRun&)> run);
OpCase perf_case(const std::string& name, std::function<PerfCall(Backend&, double)> perf);

// Every registered case, sorted by op then in each folder's order. Cases are made on the first
// call (after static initialization), and an (op, name) pair must be unique.
const std::vector<OpCase>& op_cases();
int register_op_cases(const char* op, CaseList (*make)());

// The backend a case runs on: one per (device, precision), made on first use and shared; null
// (with `why` set to make_backend's message) when that device has none here.
Backend* case_backend(Device d, const std::string& precision, std::string* why);

// Perf mode's activations: 2D [4, 32, 1, 256 s, 256 s] or 3D [1, 32, 64 s, 64 s, 64 s] for
// scale s (what useg_bench_ops --scale sets), and a random tensor on the backend's device.
Shape perf_shape(bool three_d, double scale);
Tensor perf_random(Backend& be, const Shape& s, uint32_t seed, float lo = -1.f, float hi = 1.f);

// Runs one case on one device (the body of every OpEval / OpGrad instance).
void run_op_case(const OpCase& c, Device d);

// "n2_c4_d1_h9_w16" (a rank-1 [7]: "n7")
std::string shape_name(const Shape& s);

}  // namespace useg::test

// In an op folder's test.cpp:  USEG_OP_CASES(norm) { CaseList cases; ...; return cases; }
#define USEG_OP_CASES(op)                                                                     \
  static ::useg::test::CaseList useg_make_op_cases_##op();                                    \
  [[maybe_unused]] static const int useg_op_cases_registered_##op =                           \
      ::useg::test::register_op_cases(#op, useg_make_op_cases_##op);                          \
  static ::useg::test::CaseList useg_make_op_cases_##op()
