// Naive reference of the losses, straight from the definitions in backend.h, in double (ref.cpp).
#pragma once

#include "ops/ref_util.h"
#include "useg/backend.h"

namespace useg::ref {

// spec.weight * loss as defined in backend.h. target is a label map
// [N, 1, D, H, W] or, for MSE / hinge, a dense tensor shaped like the logits.
double loss(const LossSpec& spec, const Vec& logits, const Shape& s, const Vec& target,
            const Shape& target_shape);

}  // namespace useg::ref
