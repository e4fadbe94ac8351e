// Segmentation metrics. dice_per_class is what the trainer's validation reports; `useg eval`
// computes the same Dice (and more) from files, and the two agree on the same prediction.
#pragma once

#include <vector>

#include "useg/tensor.h"

namespace useg {

// Dice of every class 0..num_classes-1 between two label maps of the same shape (CPU tensors of
// class indices stored as floats). A class absent from both gives 1 (nothing to find, nothing
// found), absent from one side 0.
std::vector<double> dice_per_class(const Tensor& pred, const Tensor& ref, int num_classes);

}  // namespace useg
