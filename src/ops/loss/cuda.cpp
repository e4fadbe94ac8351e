// Losses on CUDA, in the CPU backend's steps (cpu.cpp): validate the labels on the
// device, reduce the per-voxel terms per sample (deterministic row reductions), combine the sums
// on the host into the loss value and the Dice coefficients with the ops/loss/loss.h functions, then
// launch the per-voxel gradient.
#include <cuda_runtime_api.h>

#include <vector>

#include "core/op_checks.h"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_check.h"
#include "cuda/host/launch_config.h"
#include "ops/loss/launch.h"
#include "ops/loss/dice_term.h"
#include "ops/loss/loss.h"
#include "useg/error.h"

namespace useg::gpu {
namespace {

constexpr const char* kOp = "loss_forward_backward";

// The row sums of `partials` ([rows][chunks][k] doubles on the device), added on the host in
// chunk order: out[r * k + j].
std::vector<double> row_sums(const std::vector<double>& partials, int64_t rows, int64_t chunks,
                             int k) {
  std::vector<double> out(size_t(rows * k), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int j = 0; j < k; ++j) {
      double s = 0.0;
      for (int64_t c = 0; c < chunks; ++c) s += partials[size_t((r * chunks + c) * k + j)];
      out[size_t(r * k + j)] = s;
    }
  return out;
}

}  // namespace

double loss_forward_backward(BackendImpl& impl, const LossSpec& spec, const Tensor& logits,
                             const Tensor& target, Tensor* dlogits) {
  CudaBackend& be = cuda(impl);
  const LossTarget kind = loss_target(spec, logits, target);
  const Shape& s = logits.shape();
  const int64_t N = s.n(), S = s.spatial();
  const int C = int(s.c());
  const float* x = logits.data();
  const float* t = target.data();

  if (!kind.dense) {  // the first label that is not a class index, as the CPU backend reports it
    DeviceBuffer bad(be.allocator(), sizeof(unsigned long long));
    USEG_CUDA_CHECK(cudaMemsetAsync(bad.as<void>(), 0xff, sizeof(unsigned long long), be.stream()));
    launch_find_bad_label(t, target.numel(), C, bad.as<unsigned long long>(), be.stream());
    unsigned long long first = 0;
    be.download(&first, bad.as<void>(), sizeof(first));
    if (first != ~0ull) {
      float value = 0.f;
      be.download(&value, t + first, sizeof(float));
      int64_t i = int64_t(first);
      const Shape& ts = target.shape();
      const int64_t xw = i % ts.w(), yh = (i /= ts.w()) % ts.h(), zd = (i /= ts.h()) % ts.d();
      const int64_t nn = i / ts.d();
      USEG_THROW(kOp << ": target value " << value << " at [" << nn << ", 0, " << zd << ", " << yh
                     << ", " << xw << "] of " << ts.str() << " is not a class index in 0.."
                     << C - 1 << " (the logits have " << C << " channels)");
    }
  }

  const int64_t chunks = reduce_chunks(S);
  if (kind.elementwise) {  // MSE, hinge, multi-class hinge
    const ElementwiseLoss ek = spec.kind == LossKind::MSE     ? ElementwiseLoss::MSE
                                : spec.kind == LossKind::Hinge ? ElementwiseLoss::Hinge
                                                               : ElementwiseLoss::MultiHinge;
    DeviceBuffer partials(be.allocator(), size_t(N * chunks) * sizeof(double));
    launch_elementwise_loss_terms(x, t, kind.dense, ek, N, C, S, partials.as<double>(),
                                  be.stream());
    std::vector<double> host(size_t(N * chunks));
    be.download(host.data(), partials.as<double>(), partials.bytes());
    const std::vector<double> sums = row_sums(host, N, chunks, 1);
    double total = 0.0;
    for (int64_t n = 0; n < N; ++n) total += sums[size_t(n)];
    const double elements = double(logits.numel());
    if (dlogits)
      launch_elementwise_loss_grad(x, t, kind.dense, ek, N, C, S,
                                   float(double(spec.weight) / elements), dlogits->data(),
                                   be.stream());
    return double(spec.weight) * (total / elements);
  }

  // CE, Dice, DiceCE
  const bool has_ce = spec.kind != LossKind::Dice;
  const bool has_dice = spec.kind != LossKind::CrossEntropy;
  USEG_CHECK(!has_dice || C >= 2, kOp << " (" << loss_name(spec.kind) << "): logits " << s.str()
                                      << " need at least 2 channels (background + a foreground"
                                         " class) for a Dice term");
  const int k = 1 + (has_dice ? 3 * (C - 1) : 0);
  DeviceBuffer partials(be.allocator(), size_t(N * chunks * k) * sizeof(double));
  launch_softmax_loss_terms(x, t, N, C, S, has_dice, partials.as<double>(), be.stream());
  std::vector<double> host(size_t(N * chunks * k));
  be.download(host.data(), partials.as<double>(), partials.bytes());
  const std::vector<double> sums = row_sums(host, N, chunks, k);

  const double voxels = double(N) * double(S);
  double loss = 0.0;
  if (has_ce) {
    double ce = 0.0;
    for (int64_t n = 0; n < N; ++n) ce += sums[size_t(n * k)];
    loss += ce / voxels;
  }
  const int64_t groups = spec.batch_dice ? 1 : N;
  std::vector<float> coefs(size_t(2 * groups * C), 0.f);  // dice_a [groups * C], then dice_b
  float* dice_a = coefs.data();
  float* dice_b = coefs.data() + groups * C;
  if (has_dice) loss += ops::dice_term(spec, sums, N, C, k, dice_a, dice_b);

  if (dlogits) {
    DeviceBuffer coefs_d(be.allocator(), coefs.size() * sizeof(float));
    if (has_dice)  // pageable source: returns once the driver has staged it (coefs may go)
      USEG_CUDA_CHECK(cudaMemcpyAsync(coefs_d.as<void>(), coefs.data(), coefs_d.bytes(),
                                      cudaMemcpyHostToDevice, be.stream()));
    const float* a = has_dice ? coefs_d.as<float>() : nullptr;
    const float* b = has_dice ? coefs_d.as<float>() + groups * C : nullptr;
    launch_softmax_loss_grad(x, t, N, C, S, has_ce ? float(1.0 / voxels) : 0.f, a, b,
                             spec.batch_dice, spec.weight, dlogits->data(), be.stream());
  }
  return double(spec.weight) * loss;
}

void add_loss_ops(BackendOps& t) {
  t.loss_forward_backward = loss_forward_backward;
}

}  // namespace useg::gpu
