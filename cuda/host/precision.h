// Numerical precision of the CUDA backend's convolutions (everything else is float32).
//   fp32  strict float32 (BackendOptions::cuda_strict_fp32): cuDNN FMA math only, no TF32
//   tf32  the default: float32 tensors, TF32 tensor-core math allowed (10-bit mantissa products)
//   fp16, bf16  mixed precision: x and w are cast to half / bfloat16 around each cuDNN call
//         (float32 accumulation, result cast back to float32); norms, losses and optimizer
//         state stay float32. fp16 training needs loss scaling (cuda/host/loss_scaler.h).
//         Plumbing only: never run on a GPU (see cuda/README.md).
// USEG_CUDA_PRECISION=fp32|tf32|fp16|bf16 selects one explicitly (BackendOptions has only the
// strict-fp32 switch; see cuda/README.md for the proposed option).
#pragma once

namespace useg::gpu {

enum class Precision : int { Fp32 = 0, Tf32 = 1, Fp16 = 2, Bf16 = 3 };

const char* precision_name(Precision p);
inline bool is_half(Precision p) { return p == Precision::Fp16 || p == Precision::Bf16; }

// strict_fp32 from BackendOptions; env_value is USEG_CUDA_PRECISION (may be null or empty).
// Throws useg::Error for an unknown value or one that contradicts strict_fp32.
Precision resolve_precision(bool strict_fp32, const char* env_value);

}  // namespace useg::gpu
