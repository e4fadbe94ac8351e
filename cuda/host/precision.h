// Numerical precision of the CUDA backend's convolutions (everything else is float32).
//   fp32  strict float32: cuDNN FMA math only, no TF32
//   tf32  the default: float32 tensors, TF32 tensor-core math allowed (10-bit mantissa products)
//   fp16, bf16  mixed precision: x and w are cast to half / bfloat16 around each cuDNN call
//         (float32 accumulation, result cast back to float32); norms, losses and optimizer
//         state stay float32. fp16 training needs loss scaling (src/train/loss_scaler.h).
//         Never run on a GPU (see cuda/README.md).
// Selected by BackendOptions::precision (the CLI's --precision).
#pragma once

#include <string>

namespace useg::gpu {

enum class Precision : int { Fp32 = 0, Tf32 = 1, Fp16 = 2, Bf16 = 3 };

const char* precision_name(Precision p);
inline bool is_half(Precision p) { return p == Precision::Fp16 || p == Precision::Bf16; }

// BackendOptions::precision: "" (the default, tf32) or a precision_name. Throws useg::Error for
// anything else.
Precision resolve_precision(const std::string& option);

}  // namespace useg::gpu
