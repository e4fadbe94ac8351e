// The CUDA backend's host logic, tested without a device in every build: the op -> cuDNN routine
// mapping (through an emulation of cuDNN's three routines, against naive convolutions), problem
// dims and strides (NCDHW and the NDHWC of the fp16/bf16 convolutions, against the index maps
// of the transposing casts), the plan-cache key, launch configurations, allocator size classes,
// the precision option and dynamic loss scaling.
#include <gtest/gtest.h>

#include <climits>
#include <set>
#include <string>
#include <vector>

#include "common/compare.h"
#include "common/shapes.h"
#include "cuda/host/conv_problem.h"
#include "cuda/host/launch_config.h"
#include "cuda/host/plan_cache.h"
#include "cuda/host/precision.h"
#include "cuda/host/size_class.h"
#include "ops/channels_last/channels_last.h"
#include "ops/conv/ref.h"
#include "useg/error.h"

namespace useg::test {
namespace {

using gpu::ConvCall;
using gpu::ConvPass;
using gpu::ConvProblem;
using gpu::ConvRoutine;

Shape shape_of(const std::array<int, 5>& d) { return Shape{d[0], d[1], d[2], d[3], d[4]}; }
ConvGeom geom_of(const ConvProblem& p) {
  ConvGeom g;
  g.pad = p.pad;
  g.stride = p.stride;
  g.kernel = {p.w[2], p.w[3], p.w[4]};
  return g;
}

// What cuDNN computes for one routine of problem p (cross-correlation, alpha 1, beta 0), from
// its operands a and b (see CudnnConv::run).
ref::Vec emulate_cudnn(const ConvCall& c, const ref::Vec& a, const ref::Vec& b) {
  const ConvProblem& p = c.problem;
  const Shape xs = shape_of(p.x), ws = shape_of(p.w), ys = shape_of(p.y);
  const ConvGeom g = geom_of(p);
  switch (c.routine) {
    case ConvRoutine::Forward:
      return ref::conv_forward(ref::Array(xs, a), ref::Array(ws, b), nullptr, g).v;
    case ConvRoutine::BackwardData:
      return ref::conv_backward_data(ref::Array(ys, b), ref::Array(ws, a), xs, g).v;
    case ConvRoutine::BackwardFilter:
      return ref::conv_backward_weights(ref::Array(xs, a), ref::Array(ys, b), ws, g).v;
  }
  return {};
}

// Runs one backend op as the CUDA backend does: conv_call, then the routine on (in0, in1)
// swapped as the call says.
ref::Vec run_op(ConvPass pass, bool transposed, const Shape& x, const Shape& w, const Shape& y,
                const ConvGeom& g, const ref::Vec& in0, const ref::Vec& in1) {
  const ConvCall c = gpu::conv_call("test", pass, transposed, x, w, y, g);
  return c.swap_inputs ? emulate_cudnn(c, in1, in0) : emulate_cudnn(c, in0, in1);
}

void check_all_passes(const ConvCase& cc, bool transposed) {
  SCOPED_TRACE(cc.name);
  const Shape xs = cc.x;
  const Shape ws = conv_weight_shape(cc, transposed), ys = conv_case_output_shape(cc, transposed);
  const ref::Vec x = ref::to_vec(random_tensor(xs, 1)), w = ref::to_vec(random_tensor(ws, 2));
  const ref::Vec dy = ref::to_vec(random_tensor(ys, 3));
  const auto expect = [](const ref::Vec& got, const ref::Vec& want, const Shape& s) {
    EXPECT_ALLCLOSE(ref::to_tensor(got, s), ref::to_tensor(want, s), Tolerance{1e-6, 1e-6});
  };
  const ref::Array xa(xs, x), wa(ws, w), dya(ys, dy);
  if (!transposed) {
    expect(run_op(ConvPass::Forward, false, xs, ws, ys, cc.g, x, w),
           ref::conv_forward(xa, wa, nullptr, cc.g).v, ys);
    expect(run_op(ConvPass::BackwardData, false, xs, ws, ys, cc.g, dy, w),
           ref::conv_backward_data(dya, wa, xs, cc.g).v, xs);
    expect(run_op(ConvPass::BackwardWeights, false, xs, ws, ys, cc.g, x, dy),
           ref::conv_backward_weights(xa, dya, ws, cc.g).v, ws);
  } else {
    expect(run_op(ConvPass::Forward, true, xs, ws, ys, cc.g, x, w),
           ref::deconv_forward(xa, wa, nullptr, cc.g).v, ys);
    expect(run_op(ConvPass::BackwardData, true, xs, ws, ys, cc.g, dy, w),
           ref::deconv_backward_data(dya, wa, xs, cc.g).v, xs);
    expect(run_op(ConvPass::BackwardWeights, true, xs, ws, ys, cc.g, x, dy),
           ref::deconv_backward_weights(xa, dya, ws, cc.g).v, ws);
  }
}

TEST(CudaHostConv, EveryConvOpMapsOntoTheRightCudnnRoutine) {
  for (const ConvCase& cc : conv_cases()) check_all_passes(cc, false);
}

TEST(CudaHostConv, EveryTransposedConvOpMapsOntoTheRightCudnnRoutine) {
  for (const ConvCase& cc : deconv_cases()) check_all_passes(cc, true);
}

TEST(CudaHostConv, ProblemDimsAndPackedStrides) {
  ConvGeom g;
  g.kernel = {1, 3, 3};
  g.pad = {0, 1, 1};
  const ConvProblem p = gpu::conv_problem("conv_forward", Shape{2, 3, 1, 7, 5},
                                          Shape{4, 3, 1, 3, 3}, Shape{2, 4, 1, 7, 5}, g);
  EXPECT_EQ(p.x, (std::array<int, 5>{2, 3, 1, 7, 5}));
  EXPECT_EQ(p.w, (std::array<int, 5>{4, 3, 1, 3, 3}));
  EXPECT_EQ(p.y, (std::array<int, 5>{2, 4, 1, 7, 5}));
  EXPECT_EQ(p.pad, (std::array<int, 3>{0, 1, 1}));
  EXPECT_EQ(p.dilation, (std::array<int, 3>{1, 1, 1}));
  // Transposed: cuDNN's input is the deconv output, its output the deconv input.
  ConvGeom up;
  up.kernel = {2, 2, 2};
  up.stride = {2, 2, 2};
  const ConvProblem d = gpu::deconv_problem("deconv_forward", Shape{1, 3, 2, 3, 4},
                                            Shape{3, 2, 2, 2, 2}, Shape{1, 2, 4, 6, 8}, up);
  EXPECT_EQ(d.x, (std::array<int, 5>{1, 2, 4, 6, 8}));
  EXPECT_EQ(d.w, (std::array<int, 5>{3, 2, 2, 2, 2}));
  EXPECT_EQ(d.y, (std::array<int, 5>{1, 3, 2, 3, 4}));
  EXPECT_EQ(gpu::packed_strides({2, 3, 4, 5, 6}), (std::array<int, 5>{360, 120, 30, 6, 1}));
  EXPECT_EQ(gpu::packed_strides({1, 1, 1, 1, 1}), (std::array<int, 5>{1, 1, 1, 1, 1}));
}

// The index maps of the transposing casts (cuda/layout_kernels.cu): inverse permutations, and
// element (n, c, v) of [N, C, S] lands at (n, v, c) of [N, S, C].
TEST(CudaHostConv, ChannelsLastIndexMapsAreInversePermutations) {
  struct Case {
    int64_t n, c, s;
  };
  for (const Case k : {Case{2, 3, 35}, Case{1, 1, 7}, Case{3, 4, 1}, Case{1, 1, 1},
                       Case{4, 8, 27}}) {
    SCOPED_TRACE(testing::Message() << k.n << " " << k.c << " " << k.s);
    const int64_t total = k.n * k.c * k.s;
    std::vector<int> hit(size_t(total), 0);
    for (int64_t j = 0; j < total; ++j) {
      const int64_t i = ops::channels_last_source(j, k.c, k.s);
      ASSERT_GE(i, 0);
      ASSERT_LT(i, total);
      ++hit[size_t(i)];
      EXPECT_EQ(ops::channels_first_source(i, k.c, k.s), j);
    }
    for (int h : hit) EXPECT_EQ(h, 1);
    for (int64_t n = 0; n < k.n; ++n)
      for (int64_t c = 0; c < k.c; ++c)
        for (int64_t v = 0; v < k.s; ++v)
          EXPECT_EQ(ops::channels_first_source((n * k.c + c) * k.s + v, k.c, k.s),
                    (n * k.s + v) * k.c + c);
  }
}

// The NDHWC descriptor strides address exactly where the cast kernels put each element (for an
// activation, and for a filter [K, C, k] whose channels-last form is CUDNN_TENSOR_NHWC's
// [K, k, C]); NCDHW strides are the packed ones.
TEST(CudaHostConv, ChannelsLastStridesMatchTheCastKernels) {
  using gpu::TensorLayout;
  EXPECT_EQ(gpu::layout_strides({2, 3, 4, 5, 6}, TensorLayout::Ndhwc),
            (std::array<int, 5>{360, 1, 90, 18, 3}));
  EXPECT_EQ(gpu::layout_strides({2, 3, 4, 5, 6}, TensorLayout::Ncdhw),
            gpu::packed_strides({2, 3, 4, 5, 6}));
  EXPECT_EQ(gpu::layout_strides({4, 1, 3, 3, 3}, TensorLayout::Ndhwc),  // C = 1: same memory
            (std::array<int, 5>{27, 1, 9, 3, 1}));
  EXPECT_EQ(gpu::layout_strides({1, 1, 1, 1, 1}, TensorLayout::Ndhwc),
            (std::array<int, 5>{1, 1, 1, 1, 1}));
  for (const std::array<int, 5>& d : {std::array<int, 5>{2, 3, 5, 7, 1},
                                      std::array<int, 5>{4, 3, 1, 3, 3},  // a filter
                                      std::array<int, 5>{1, 16, 2, 3, 4}}) {
    const std::array<int, 5> st = gpu::layout_strides(d, TensorLayout::Ndhwc);
    const int64_t c = d[1], s = int64_t(d[2]) * d[3] * d[4];
    int64_t i = 0;  // NCDHW index of (n, ch, z, y, x)
    for (int n = 0; n < d[0]; ++n)
      for (int ch = 0; ch < d[1]; ++ch)
        for (int z = 0; z < d[2]; ++z)
          for (int y = 0; y < d[3]; ++y)
            for (int x = 0; x < d[4]; ++x, ++i) {
              const int64_t at = int64_t(n) * st[0] + int64_t(ch) * st[1] +
                                 int64_t(z) * st[2] + int64_t(y) * st[3] + int64_t(x) * st[4];
              ASSERT_EQ(at, ops::channels_first_source(i, c, s)) << n << ch << z << y << x;
              ASSERT_EQ(ops::channels_last_source(at, c, s), i);
            }
  }
  EXPECT_EQ(gpu::conv_layout(gpu::Precision::Fp16), TensorLayout::Ndhwc);
  EXPECT_EQ(gpu::conv_layout(gpu::Precision::Bf16), TensorLayout::Ndhwc);
  EXPECT_EQ(gpu::conv_layout(gpu::Precision::Tf32), TensorLayout::Ncdhw);
  EXPECT_EQ(gpu::conv_layout(gpu::Precision::Fp32), TensorLayout::Ncdhw);
}

// A 2-D problem reaches cuDNN as 4-D descriptors (the depth dropped from dims, strides and the
// convolution's arrays); a 3-D one, one with a depth kernel or depth padding, or any problem
// with allow_2d false, as the 5-D problem itself. (The cudacpu emulation of cuDNN computes from
// these numbers, so the op cases check them too.)
TEST(CudaHostConv, TwoDimensionalProblemsReachCudnnAsFourDimensionalDescriptors) {
  using gpu::TensorLayout;
  ConvGeom g;
  g.kernel = {1, 3, 3};
  g.pad = {0, 1, 1};
  g.stride = {1, 2, 1};
  const ConvProblem p = gpu::conv_problem("conv_forward", Shape{2, 3, 1, 8, 5},
                                          Shape{4, 3, 1, 3, 3}, Shape{2, 4, 1, 4, 5}, g);
  ASSERT_TRUE(gpu::is_2d(p));
  const gpu::CudnnDims nchw = gpu::cudnn_dims(p, TensorLayout::Ncdhw, true);
  EXPECT_EQ(nchw.rank, 4);
  EXPECT_EQ(nchw.x, (std::array<int, 5>{2, 3, 8, 5, 0}));
  EXPECT_EQ(nchw.y, (std::array<int, 5>{2, 4, 4, 5, 0}));
  EXPECT_EQ(nchw.w, (std::array<int, 5>{4, 3, 3, 3, 0}));
  EXPECT_EQ(nchw.x_strides, (std::array<int, 5>{120, 40, 5, 1, 0}));  // NCHW packed
  EXPECT_EQ(nchw.y_strides, (std::array<int, 5>{80, 20, 5, 1, 0}));
  EXPECT_EQ(nchw.pad, (std::array<int, 3>{1, 1, 0}));
  EXPECT_EQ(nchw.stride, (std::array<int, 3>{2, 1, 0}));
  EXPECT_EQ(nchw.dilation, (std::array<int, 3>{1, 1, 0}));
  const gpu::CudnnDims nhwc = gpu::cudnn_dims(p, TensorLayout::Ndhwc, true);
  EXPECT_EQ(nhwc.rank, 4);
  EXPECT_EQ(nhwc.x, nchw.x);
  EXPECT_EQ(nhwc.x_strides, (std::array<int, 5>{120, 1, 15, 3, 0}));  // NHWC: [HWC, 1, WC, C]
  EXPECT_EQ(nhwc.y_strides, (std::array<int, 5>{80, 1, 20, 4, 0}));

  const auto five_d = [](const ConvProblem& q, const gpu::CudnnDims& d, TensorLayout l) {
    EXPECT_EQ(d.rank, 5);
    EXPECT_EQ(d.x, q.x);
    EXPECT_EQ(d.y, q.y);
    EXPECT_EQ(d.w, q.w);
    EXPECT_EQ(d.x_strides, gpu::layout_strides(q.x, l));
    EXPECT_EQ(d.y_strides, gpu::layout_strides(q.y, l));
    EXPECT_EQ(d.pad, q.pad);
    EXPECT_EQ(d.stride, q.stride);
  };
  five_d(p, gpu::cudnn_dims(p, TensorLayout::Ndhwc, false), TensorLayout::Ndhwc);
  ConvGeom g3;
  g3.kernel = {3, 3, 3};
  g3.pad = {1, 1, 1};
  const ConvProblem cube = gpu::conv_problem("conv_forward", Shape{1, 2, 4, 4, 4},
                                             Shape{3, 2, 3, 3, 3}, Shape{1, 3, 4, 4, 4}, g3);
  EXPECT_FALSE(gpu::is_2d(cube));
  five_d(cube, gpu::cudnn_dims(cube, TensorLayout::Ncdhw, true), TensorLayout::Ncdhw);
  // One slice, but a depth kernel padded back to one slice: still a 3-D convolution.
  const ConvProblem slab = gpu::conv_problem("conv_forward", Shape{1, 2, 1, 4, 4},
                                             Shape{3, 2, 3, 3, 3}, Shape{1, 3, 1, 4, 4}, g3);
  EXPECT_FALSE(gpu::is_2d(slab));
  five_d(slab, gpu::cudnn_dims(slab, TensorLayout::Ncdhw, true), TensorLayout::Ncdhw);
}

TEST(CudaHostConv, TensorsBeyondCudnnsIntLimitAreRefused) {
  ConvGeom g;
  const Shape big{1, 1, 1024, 1024, 2048};  // 2^31 elements
  try {
    gpu::conv_problem("conv_forward", big, Shape{1, 1, 1, 1, 1}, big, g);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv_forward: input [1, 1, 1024, 1024, 2048] has "
                                         "2147483648 elements, more than cuDNN's 32-bit limit"),
              std::string::npos)
        << e.what();
  }
}

TEST(CudaHostConv, KeyTellsApartEveryFieldAndNamesTheCall) {
  ConvGeom g;
  g.kernel = {1, 3, 3};
  g.pad = {0, 1, 1};
  const ConvProblem p = gpu::conv_problem("t", Shape{1, 3, 1, 7, 5}, Shape{4, 3, 1, 3, 3},
                                          Shape{1, 4, 1, 7, 5}, g);
  const gpu::ConvKey base{p, ConvRoutine::Forward, gpu::Precision::Tf32,
                          gpu::TensorLayout::Ncdhw};
  std::vector<gpu::ConvKey> keys{base};
  auto variant = [&](auto change) {
    gpu::ConvKey k = base;
    change(k);
    keys.push_back(k);
  };
  variant([](gpu::ConvKey& k) { k.routine = ConvRoutine::BackwardData; });
  variant([](gpu::ConvKey& k) { k.precision = gpu::Precision::Fp32; });
  variant([](gpu::ConvKey& k) { k.layout = gpu::TensorLayout::Ndhwc; });
  variant([](gpu::ConvKey& k) { k.problem.pad[2] = 0; });
  variant([](gpu::ConvKey& k) { k.problem.stride[1] = 2; });
  variant([](gpu::ConvKey& k) { k.problem.x[0] = 2; });
  variant([](gpu::ConvKey& k) { k.problem.w[0] = 5; });
  std::set<size_t> hashes;
  for (size_t i = 0; i < keys.size(); ++i) {
    hashes.insert(gpu::ConvKeyHash{}(keys[i]));
    for (size_t j = 0; j < keys.size(); ++j) EXPECT_EQ(keys[i] == keys[j], i == j) << i << " " << j;
  }
  EXPECT_EQ(hashes.size(), keys.size());
  EXPECT_EQ(gpu::to_string(base),
            "forward x [1, 3, 1, 7, 5] w [4, 3, 1, 3, 3] y [1, 4, 1, 7, 5] pad [0, 1, 1] "
            "stride [1, 1, 1] tf32 ncdhw");
}

TEST(CudaHostConv, PlanCacheMakesEachPlanOnce) {
  ConvGeom g;
  const ConvProblem p = gpu::conv_problem("t", Shape{1, 2, 1, 4, 4}, Shape{3, 2, 1, 1, 1},
                                          Shape{1, 3, 1, 4, 4}, g);
  gpu::PlanCache<int> cache;
  int made = 0;
  auto make = [&] { return ++made; };
  const gpu::ConvKey fwd{p, ConvRoutine::Forward, gpu::Precision::Tf32, gpu::TensorLayout::Ncdhw};
  const gpu::ConvKey bwd{p, ConvRoutine::BackwardData, gpu::Precision::Tf32,
                         gpu::TensorLayout::Ncdhw};
  EXPECT_EQ(cache.get(fwd, make), 1);
  EXPECT_EQ(cache.get(fwd, make), 1);  // every later window batch / step with this shape
  EXPECT_EQ(cache.get(bwd, make), 2);
  EXPECT_EQ(cache.get(fwd, make), 1);
  EXPECT_EQ(made, 2);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.hits(), 2u);
  EXPECT_EQ(cache.misses(), 2u);
}

// Plans of the two layouts hold different descriptors: the same problem, routine and precision
// in NCDHW and NDHWC are two plans, never one.
TEST(CudaHostConv, PlansOfTwoLayoutsAreNeverShared) {
  ConvGeom g;
  g.kernel = {3, 3, 3};
  g.pad = {1, 1, 1};
  const ConvProblem p = gpu::conv_problem("t", Shape{1, 8, 4, 4, 4}, Shape{8, 8, 3, 3, 3},
                                          Shape{1, 8, 4, 4, 4}, g);
  for (gpu::Precision pr : {gpu::Precision::Fp16, gpu::Precision::Bf16, gpu::Precision::Tf32}) {
    const gpu::ConvKey first{p, ConvRoutine::Forward, pr, gpu::TensorLayout::Ncdhw};
    const gpu::ConvKey last{p, ConvRoutine::Forward, pr, gpu::TensorLayout::Ndhwc};
    EXPECT_FALSE(first == last);
    gpu::PlanCache<gpu::TensorLayout> cache;
    EXPECT_EQ(cache.get(first, [] { return gpu::TensorLayout::Ncdhw; }), gpu::TensorLayout::Ncdhw);
    EXPECT_EQ(cache.get(last, [] { return gpu::TensorLayout::Ndhwc; }), gpu::TensorLayout::Ndhwc);
    EXPECT_EQ(cache.get(first, [] { return gpu::TensorLayout::Ndhwc; }), gpu::TensorLayout::Ncdhw);
    EXPECT_EQ(cache.size(), 2u);
    EXPECT_EQ(cache.misses(), 2u);
  }
  // What the backend builds (cudnn_conv.cpp): the key's layout follows the precision.
  EXPECT_NE(gpu::to_string({p, ConvRoutine::Forward, gpu::Precision::Fp16,
                            gpu::conv_layout(gpu::Precision::Fp16)})
                .find("fp16 ndhwc"),
            std::string::npos);
}

TEST(CudaHostLaunch, GridsCoverTheWorkWithinLimits) {
  EXPECT_EQ(gpu::elementwise_blocks(0), 0u);  // nothing launched
  EXPECT_EQ(gpu::elementwise_blocks(-3), 0u);
  EXPECT_EQ(gpu::elementwise_blocks(1), 1u);
  EXPECT_EQ(gpu::elementwise_blocks(256), 1u);
  EXPECT_EQ(gpu::elementwise_blocks(257), 2u);
  EXPECT_EQ(gpu::elementwise_blocks(int64_t(1) << 40), unsigned(gpu::kMaxBlocks));
  static_assert((gpu::kReduceThreads & (gpu::kReduceThreads - 1)) == 0, "tree needs 2^k");
  EXPECT_EQ(gpu::reduce_chunks(0), 1);
  EXPECT_EQ(gpu::reduce_chunks(gpu::kReduceChunk), 1);
  EXPECT_EQ(gpu::reduce_chunks(gpu::kReduceChunk + 1), 2);
  EXPECT_EQ(gpu::reduce_blocks(6, 3 * gpu::kReduceChunk), 18);
}

TEST(CudaHostAllocator, SizeClassesRoundUpWithBoundedWaste) {
  EXPECT_EQ(gpu::size_class(0), 512u);
  EXPECT_EQ(gpu::size_class(1), 512u);
  EXPECT_EQ(gpu::size_class(512), 512u);
  EXPECT_EQ(gpu::size_class(513), 1024u);
  EXPECT_EQ(gpu::size_class(size_t(1) << 20), size_t(1) << 20);
  EXPECT_EQ(gpu::size_class((size_t(1) << 20) + 1), size_t(5) << 18);  // 1.25 MiB
  EXPECT_EQ(gpu::size_class(size_t(3) << 20), size_t(3) << 20);
  EXPECT_EQ(gpu::size_class((size_t(7) << 28) + 5), size_t(2) << 30);  // 1.75 GiB + 5 -> 2 GiB
  size_t prev = 0;
  for (size_t b = 1; b < (size_t(64) << 20); b = b * 5 / 4 + 37) {
    const size_t c = gpu::size_class(b);
    EXPECT_GE(c, b);
    EXPECT_GE(c, prev);  // monotone
    if (b > (size_t(1) << 20)) {
      EXPECT_LE(double(c) / double(b), 1.25) << b;
    }
    EXPECT_EQ(gpu::size_class(c), c) << "a class is its own class";
    prev = c;
  }
}

TEST(CudaHostPrecision, DefaultStrictAndExplicitChoices) {
  using gpu::Precision;
  EXPECT_EQ(gpu::resolve_precision(""), Precision::Tf32);
  EXPECT_EQ(gpu::resolve_precision("tf32"), Precision::Tf32);
  EXPECT_EQ(gpu::resolve_precision("fp32"), Precision::Fp32);
  EXPECT_EQ(gpu::resolve_precision("bf16"), Precision::Bf16);
  EXPECT_EQ(gpu::resolve_precision("fp16"), Precision::Fp16);
  EXPECT_TRUE(gpu::is_half(Precision::Bf16));
  EXPECT_TRUE(gpu::is_half(Precision::Fp16));
  EXPECT_FALSE(gpu::is_half(Precision::Tf32));
  EXPECT_FALSE(gpu::is_half(Precision::Fp32));
  try {
    gpu::resolve_precision("fp8");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "precision 'fp8' is not one of: fp32, tf32, fp16, bf16");
  }
}

}  // namespace
}  // namespace useg::test
