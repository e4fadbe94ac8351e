// Naive reference of the activations (ref.cpp): the definitions, in double.
#pragma once

#include "ops/ref_util.h"
#include "useg/backend.h"

namespace useg::ref {

double activation(Activation a, double alpha, double x);
double activation_derivative(Activation a, double alpha, double x);  // f'(x), f'(0) from the left

}  // namespace useg::ref
