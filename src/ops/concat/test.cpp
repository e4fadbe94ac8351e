// The concat/split cases of the op harness (tests/harness/op_case.h): every activation shape
// concatenated with a tensor of 1-3 channels vs the reference, split back, and the
// shape-error message. Data movement: exact, on every device.
#include "common/expect_error.h"
#include "harness/op_case.h"
#include "ops/concat/ref.h"

namespace useg::test {
namespace {

void concat_and_split(OpRun& r, const Shape& sa) {
  const Shape sb{sa.n(), sa.c() % 3 + 1, sa.d(), sa.h(), sa.w()};
  const Shape sy{sa.n(), sa.c() + sb.c(), sa.d(), sa.h(), sa.w()};
  const Tensor a = random_tensor(sa, 5), b = random_tensor(sb, 6);
  Tensor y = r.garbage(sy);
  r.be().concat_channels(r.dev(a), r.dev(b), y);
  r.expect("y", y,
           ref::to_tensor(ref::concat_channels(ref::to_vec(a), sa, ref::to_vec(b), sb), sy),
           kExact, kExact);
  Tensor a2 = r.garbage(sa), b2 = r.garbage(sb);
  r.be().split_channels(y, a2, b2);
  r.expect("a", a2, a, kExact, kExact);
  r.expect("b", b2, b, kExact, kExact);
}

void shape_error(OpRun& r) {
  Tensor a = r.zeros(Shape{1, 3, 1, 7, 5}), b = r.zeros(Shape{1, 2, 1, 7, 5});
  Tensor y = r.zeros(Shape{1, 4, 1, 7, 5});
  expect_error([&] { r.be().concat_channels(a, b, y); },
               "concat_channels: y [1, 4, 1, 7, 5] is not the channel concatenation of a "
               "[1, 3, 1, 7, 5] and b [1, 2, 1, 7, 5]");
}

}  // namespace

USEG_OP_CASES(concat) {
  CaseList cases;
  for (const Shape& s : activation_shapes())
    cases.push_back(
        eval_case("concat_split_" + shape_name(s), [=](OpRun& r) { concat_and_split(r, s); }));
  cases.push_back(eval_case("shape_mismatch_is_named", shape_error));
  return cases;
}

}  // namespace useg::test
