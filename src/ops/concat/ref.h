// Naive reference of the channel concatenation (ref.cpp); split is its inverse.
#pragma once

#include "ops/ref_util.h"

namespace useg::ref {

Vec concat_channels(const Vec& a, const Shape& sa, const Vec& b, const Shape& sb);

}  // namespace useg::ref
