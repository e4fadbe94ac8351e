// The optimizer cases of the op harness (tests/harness/op_case.h): SGD (plain, momentum,
// Nesterov, weight decay) and Adam / Adam with L2 / AdamW over several steps, vs torch.optim's
// update rules unrolled by hand in double (ref.cpp), on every activation shape (an optimizer is
// elementwise; the shapes vary the sizes); rank-1 parameters; the argument-error messages.
//
// The reference starts SGD's momentum buffer as torch does (buf = d_p on the first step); the
// backend starts from a zero buffer, which must give the same first step.
//
// Tolerance: each step rounds a few float operations (~1e-7 relative) on O(1) parameters, over
// 5 steps: abs 1e-6 + rel 1e-5. Hyperparameters reach the reference as the float values the
// backend gets, so the only difference is float vs double arithmetic. Across devices kUlps (a
// device may fuse the multiply-adds the CPU rounds twice).
#include "common/expect_error.h"
#include "harness/op_case.h"
#include "ops/optim/ref.h"

namespace useg::test {
namespace {

constexpr Tolerance kTol{1e-6, 1e-5};
constexpr int kSteps = 5;

struct OptimCase {
  std::string name;
  bool adam = false;
  SgdStep sgd;
  AdamStep adam_step;
};

OptimCase sgd_case(const std::string& name, float momentum, bool nesterov, float wd) {
  OptimCase c;
  c.name = name;
  c.sgd.lr = 0.1f;
  c.sgd.momentum = momentum;
  c.sgd.nesterov = nesterov;
  c.sgd.weight_decay = wd;
  return c;
}

OptimCase adam_case(const std::string& name, float wd, bool decoupled, float beta1 = 0.9f,
                    float beta2 = 0.999f, float eps = 1e-8f) {
  OptimCase c;
  c.name = name;
  c.adam = true;
  c.adam_step.lr = 1e-2f;
  c.adam_step.weight_decay = wd;
  c.adam_step.decoupled = decoupled;
  c.adam_step.beta1 = beta1;
  c.adam_step.beta2 = beta2;
  c.adam_step.eps = eps;
  return c;
}

std::vector<OptimCase> optim_cases() {
  return {
      sgd_case("sgd", 0.f, false, 0.f),
      sgd_case("sgd_momentum", 0.9f, false, 0.f),
      sgd_case("sgd_nesterov", 0.9f, true, 0.f),
      sgd_case("sgd_weight_decay", 0.f, false, 0.01f),
      sgd_case("sgd_nesterov_weight_decay", 0.8f, true, 0.05f),
      adam_case("adam", 0.f, false),
      adam_case("adam_l2", 0.1f, false),
      adam_case("adamw", 0.1f, true),
      adam_case("adam_betas_eps", 0.f, false, 0.5f, 0.9f, 1e-6f),
  };
}

void steps_match_torch(OpRun& r, const OptimCase& oc, const Shape& s) {
  const Tensor p0 = random_tensor(s, 1);
  Tensor param = r.dev(p0), buf = r.zeros(s), m = r.zeros(s), v = r.zeros(s);
  ref::Vec rp = ref::to_vec(p0);
  ref::SgdState sgd_state;
  ref::AdamState adam_state;
  for (int t = 1; t <= kSteps; ++t) {
    const std::string step = " step " + std::to_string(t);
    const Tensor grad = random_tensor(s, 100 + t);
    const ref::Vec g = ref::to_vec(grad);
    if (oc.adam) {
      AdamStep a = oc.adam_step;
      a.step = t;
      r.be().adam_update(param, r.dev(grad), m, v, a);
      ref::adam_step(rp, g, adam_state, a.lr, a.beta1, a.beta2, a.eps, a.weight_decay,
                     a.decoupled);
      r.expect("m" + step, m, ref::to_tensor(adam_state.exp_avg, s), kTol, kUlps);
      r.expect("v" + step, v, ref::to_tensor(adam_state.exp_avg_sq, s), kTol, kUlps);
    } else {
      const SgdStep& k = oc.sgd;
      r.be().sgd_update(param, r.dev(grad), k.momentum != 0.f ? &buf : nullptr, k);
      ref::sgd_step(rp, g, sgd_state, k.lr, k.momentum, k.nesterov, k.weight_decay);
      if (k.momentum != 0.f)
        r.expect("momentum buffer" + step, buf, ref::to_tensor(sgd_state.momentum_buffer, s), kTol,
                 kUlps);
    }
    r.expect("param" + step, param, ref::to_tensor(rp, s), kTol, kUlps);
  }
}

// Parameters of any rank (a conv bias is [C]).
void rank_one_parameters(OpRun& r) {
  const Shape s{7};
  const Tensor p0 = random_tensor(s, 1), grad = random_tensor(s, 2);
  Tensor param = r.dev(p0), m = r.zeros(s), v = r.zeros(s);
  AdamStep a;
  r.be().adam_update(param, r.dev(grad), m, v, a);
  ref::Vec rp = ref::to_vec(p0);
  ref::AdamState st;
  ref::adam_step(rp, ref::to_vec(grad), st, a.lr, a.beta1, a.beta2, a.eps, a.weight_decay,
                 a.decoupled);
  r.expect("param", param, ref::to_tensor(rp, s), kTol, kUlps);
}

void bad_arguments(OpRun& r) {
  const Shape s{1, 3, 1, 7, 5};
  Tensor p = r.zeros(s), g = r.zeros(s), other = r.zeros(Shape{1, 3, 1, 7, 4});
  Backend& be = r.be();
  SgdStep sgd;
  sgd.momentum = 0.9f;
  expect_error([&] { be.sgd_update(p, g, nullptr, sgd); },
               "sgd_update: momentum 0.9 for param [1, 3, 1, 7, 5] needs a momentum buffer");
  expect_error([&] { be.sgd_update(p, other, nullptr, SgdStep{}); },
               "sgd_update: grad [1, 3, 1, 7, 4] does not match param [1, 3, 1, 7, 5]");
  AdamStep adam;
  expect_error([&] { be.adam_update(p, g, other, g, adam); },
               "adam_update: m [1, 3, 1, 7, 4] does not match param [1, 3, 1, 7, 5]");
  adam.step = 0;
  expect_error([&] { be.adam_update(p, g, p, g, adam); },
               "adam_update: step 0 must be >= 1 (it counts from 1)");
}

}  // namespace

USEG_OP_CASES(optim) {
  CaseList cases;
  for (const OptimCase& oc : optim_cases())
    for (const Shape& s : activation_shapes())
      cases.push_back(eval_case(oc.name + "_" + shape_name(s),
                                [=](OpRun& r) { steps_match_torch(r, oc, s); }));
  cases.push_back(eval_case("rank_one_parameters", rank_one_parameters));
  cases.push_back(eval_case("bad_arguments_are_named", bad_arguments));
  return cases;
}

}  // namespace useg::test
