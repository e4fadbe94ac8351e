// The activations and their derivatives, from the definitions, in double.
#include "ops/activation/ref.h"

#include <cmath>

namespace useg::ref {

double activation(Activation a, double alpha, double x) {
  switch (a) {
    case Activation::Identity: return x;
    case Activation::ReLU: return x > 0 ? x : 0;
    case Activation::LeakyReLU: return x > 0 ? x : alpha * x;
    case Activation::Sigmoid: return 1 / (1 + std::exp(-x));
    case Activation::Tanh: return std::tanh(x);
  }
  return 0;
}

double activation_derivative(Activation a, double alpha, double x) {
  switch (a) {
    case Activation::Identity: return 1;
    case Activation::ReLU: return x > 0 ? 1 : 0;
    case Activation::LeakyReLU: return x > 0 ? 1 : alpha;
    case Activation::Sigmoid: {
      const double s = 1 / (1 + std::exp(-x));
      return s * (1 - s);
    }
    case Activation::Tanh: return 1 - std::tanh(x) * std::tanh(x);
  }
  return 0;
}

}  // namespace useg::ref
