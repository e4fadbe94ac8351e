// Naive reference of softmax over the channels (ref.cpp).
#pragma once

#include "ops/ref_util.h"

namespace useg::ref {

Vec softmax_channels(const Vec& x, const Shape& s);

}  // namespace useg::ref
