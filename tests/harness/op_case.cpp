// The op harness's runner and table (op_case.h).
#include "harness/op_case.h"

#include <gtest/gtest-spi.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <exception>
#include <stdexcept>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <utility>

#include "useg/error.h"

namespace useg::test {

// ------------------------------------------------------------------------------ OpRun
Tensor OpRun::garbage(const Shape& s) const {
  return Tensor::full(s, std::numeric_limits<float>::quiet_NaN()).to(device());
}

void OpRun::keep_values(const std::string& what, const Shape& s, std::vector<double> v,
                        Tolerance vs_cpu) {
  EXPECT_EQ(m_kept.count(what), 0u) << "the case keeps two results named \"" << what << "\"";
  m_kept[what] = Kept{s, std::move(v), vs_cpu};
}

void OpRun::keep(const std::string& what, const Tensor& got, Tolerance vs_cpu) {
  const std::vector<float> f = got.to_vector();
  keep_values(what, got.shape(), std::vector<double>(f.begin(), f.end()), vs_cpu);
}

void OpRun::expect(const std::string& what, const Tensor& got, const Tensor& want, Tolerance tol,
                   Tolerance vs_cpu) {
  keep(what, got, vs_cpu);
  EXPECT_TRUE(allclose(host(got), host(want), tol)) << what << " vs the naive reference";
}

void OpRun::expect_value(const std::string& what, double got, double want, Tolerance tol,
                         Tolerance vs_cpu) {
  keep_values(what, Shape{1}, {got}, vs_cpu);
  EXPECT_LE(std::fabs(got - want), tol.abs + tol.rel * std::fabs(want))
      << what << " vs the naive reference: got " << got << ", expected " << want;
}

// ------------------------------------------------------------------------------ the table
namespace {

struct Registration {
  std::string op;
  CaseList (*make)();
};

std::vector<Registration>& registrations() {
  static std::vector<Registration> r;
  return r;
}

OpCase make_case(const std::string& name, Mode mode) {
  OpCase c;
  c.name = name;
  c.mode = mode;
  return c;
}

}  // namespace

int register_op_cases(const char* op, CaseList (*make)()) {
  registrations().push_back({op, make});
  return int(registrations().size());
}

OpCase eval_case(const std::string& name, std::function<void(OpRun&)> run) {
  OpCase c = make_case(name, Mode::Eval);
  c.run = std::move(run);
  return c;
}

OpCase grad_case(const std::string& name, std::function<void(OpRun&)> run) {
  OpCase c = make_case(name, Mode::Grad);
  c.run = std::move(run);
  return c;
}

OpCase perf_case(const std::string& name, std::function<PerfCall(Backend&, double)> perf) {
  OpCase c = make_case(name, Mode::Perf);
  c.perf = std::move(perf);
  return c;
}

const std::vector<OpCase>& op_cases() {
  static const std::vector<OpCase> cases = [] {
    std::vector<Registration> regs = registrations();
    std::stable_sort(regs.begin(), regs.end(),
                     [](const Registration& a, const Registration& b) { return a.op < b.op; });
    std::vector<OpCase> all;
    std::set<std::string> names;
    for (const Registration& r : regs)
      for (OpCase& c : r.make()) {
        c.op = r.op;
        // gtest names allow letters, digits and '_' only.
        for (char& ch : c.name)
          if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
        const std::string key = std::to_string(int(c.mode)) + " " + c.op + "/" + c.name;
        if (!names.insert(key).second)
          throw std::logic_error("two op cases of one mode are named " + c.op + "/" + c.name);
        all.push_back(std::move(c));
      }
    return all;
  }();
  return cases;
}

std::string shape_name(const Shape& s) {
  std::string n;
  const char* dims = "ncdhw";
  for (int i = 0; i < s.rank() && i < 5; ++i)
    n += (i ? "_" : "") + std::string(1, dims[i]) + std::to_string(s[i]);
  return n;
}

Shape perf_shape(bool three_d, double scale) {
  if (three_d) {
    const int64_t e = std::max<int64_t>(1, int64_t(64 * scale));
    return Shape{1, 32, e, e, e};
  }
  const int64_t e = std::max<int64_t>(1, int64_t(256 * scale));
  return Shape{4, 32, 1, e, e};
}

Tensor perf_random(Backend& be, const Shape& s, uint32_t seed, float lo, float hi) {
  return random_tensor(s, seed, lo, hi).to(be.device());
}

// ------------------------------------------------------------------------------ the runner
Backend* case_backend(Device d, const std::string& precision, std::string* why) {
  struct Slot {
    std::unique_ptr<Backend> backend;
    std::string error;
  };
  static std::map<std::pair<Device, std::string>, Slot> slots;
  auto it = slots.find({d, precision});
  if (it == slots.end()) {
    Slot s;
    try {
      BackendOptions o;
      o.precision = precision;
      s.backend = make_backend(d, o);
    } catch (const Error& e) {
      s.error = e.what();
    }
    it = slots.emplace(std::make_pair(d, precision), std::move(s)).first;
  }
  if (why) *why = it->second.error;
  return it->second.backend.get();
}

namespace {

// The CPU backend's results of case c, its own checks not reported (the cpu instance of the case
// reports them): what a run on another device is compared with.
std::map<std::string, OpRun::Kept> cpu_results(const OpCase& c, std::string* error) {
  Backend* cpu = case_backend(Device::CPU, "fp32", error);
  if (!cpu) return {};
  OpRun run(*cpu, true);
  ::testing::TestPartResultArray ignored;
  {
    ::testing::ScopedFakeTestPartResultReporter quiet(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &ignored);
    try {
      c.run(run);
    } catch (const std::exception& e) {
      *error = e.what();
    }
  }
  return run.kept();
}

}  // namespace

void run_op_case(const OpCase& c, Device d) {
  std::string why;
  Backend* be = case_backend(d, c.precision, &why);
  if (!be) GTEST_SKIP() << "device " << device_name(d) << " unavailable: " << why;
  OpRun run(*be, false);
  c.run(run);
  if (d == Device::CPU || run.kept().empty() || ::testing::Test::IsSkipped()) return;

  std::string error;
  const std::map<std::string, OpRun::Kept> cpu = cpu_results(c, &error);
  ASSERT_TRUE(error.empty()) << "the CPU run of this case, to compare with, failed: " << error;
  for (const auto& [what, got] : run.kept()) {
    const auto it = cpu.find(what);
    if (it == cpu.end()) {
      ADD_FAILURE() << what << ": the CPU run of this case kept no result of that name";
      continue;
    }
    const OpRun::Kept& want = it->second;
    if (got.values.size() != want.values.size()) {
      ADD_FAILURE() << what << ": " << got.shape.str() << " here, " << want.shape.str()
                    << " on the CPU";
      continue;
    }
    EXPECT_TRUE(allclose(got.values, want.values, got.shape, got.vs_cpu))
        << what << " vs the CPU backend";
  }
}

}  // namespace useg::test
