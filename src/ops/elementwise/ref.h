// Naive references of the elementwise ops (ref.cpp): the arithmetic in double.
#pragma once

#include "ops/ref_util.h"

namespace useg::ref {

Vec add(const Vec& a, const Vec& b);
Vec mul(const Vec& a, const Vec& b);
Vec axpy(double alpha, const Vec& x, const Vec& y);  // alpha * x + y
Vec scale(const Vec& x, double s);
double sum_squares(const Vec& x);

}  // namespace useg::ref
