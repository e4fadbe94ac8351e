// Every eval and grad case of the op table (op_case.h) on every device, as gtest parameters:
//   cpu/OpEval.Run/<op>_<case>    cuda/OpEval.Run/<op>_<case>
//   cpu/OpGrad.Run/<op>_<case>    cuda/OpGrad.Run/<op>_<case>
// so `--gtest_filter='cuda/Op*'` selects every op case on CUDA and `'*/OpEval.Run/norm_*'` one
// folder's. A device with no backend here makes its instances SKIPPED with the reason.
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "harness/op_case.h"

namespace useg::test {
namespace {

struct CaseOnDevice {
  Device device;
  const OpCase* c;
};

void PrintTo(const CaseOnDevice& p, std::ostream* os) {
  *os << device_name(p.device) << " " << p.c->op << "/" << p.c->name;
}

// The cases of `mode` that apply to device d.
std::vector<CaseOnDevice> cases_on(Device d, Mode mode) {
  std::vector<CaseOnDevice> out;
  for (const OpCase& c : op_cases())
    if (c.mode == mode)
      for (Device cd : c.devices)
        if (cd == d) out.push_back({d, &c});
  return out;
}

std::string case_name(const ::testing::TestParamInfo<CaseOnDevice>& info) {
  return info.param.c->op + "_" + info.param.c->name;
}

class OpEval : public ::testing::TestWithParam<CaseOnDevice> {};
class OpGrad : public ::testing::TestWithParam<CaseOnDevice> {};

TEST_P(OpEval, Run) { run_op_case(*GetParam().c, GetParam().device); }
TEST_P(OpGrad, Run) { run_op_case(*GetParam().c, GetParam().device); }

INSTANTIATE_TEST_SUITE_P(cpu, OpEval, ::testing::ValuesIn(cases_on(Device::CPU, Mode::Eval)),
                         case_name);
INSTANTIATE_TEST_SUITE_P(cuda, OpEval, ::testing::ValuesIn(cases_on(Device::CUDA, Mode::Eval)),
                         case_name);
INSTANTIATE_TEST_SUITE_P(cpu, OpGrad, ::testing::ValuesIn(cases_on(Device::CPU, Mode::Grad)),
                         case_name);
INSTANTIATE_TEST_SUITE_P(cuda, OpGrad, ::testing::ValuesIn(cases_on(Device::CUDA, Mode::Grad)),
                         case_name);

}  // namespace
}  // namespace useg::test
