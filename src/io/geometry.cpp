// Geometry comparison and printing (no ITK needed here).
#include <algorithm>
#include <cmath>
#include <sstream>

#include "io/image_checks.h"
#include "useg/image.h"

namespace useg {

namespace {

bool close_rel(double a, double b, double tol, double floor_scale = 0.0) {
  double scale = std::max({std::fabs(a), std::fabs(b), floor_scale});
  return std::fabs(a - b) <= tol * scale;
}

// The origin is compared relative to its magnitude, but never more strictly than a fraction
// `tol` of the voxel size (an origin of 0 vs 1e-12 is the same place).
double origin_floor(const Geometry& g) {
  return std::max({g.spacing[0], g.spacing[1], g.spacing[2], 1e-300});
}

void put3(std::ostream& os, const std::array<double, 3>& v, const char* sep) {
  os << v[0] << sep << v[1] << sep << v[2];
}

std::string size_str(const Geometry& g) {
  std::ostringstream os;
  os << g.size[0] << "x" << g.size[1] << "x" << g.size[2];
  return os.str();
}

std::string vec_str(const std::array<double, 3>& v, const char* sep, const char* open,
                    const char* close) {
  std::ostringstream os;
  os.precision(7);
  os << open;
  put3(os, v, sep);
  os << close;
  return os.str();
}

std::string dir_str(const std::array<double, 9>& d) {
  std::ostringstream os;
  os.precision(7);
  os << "(";
  for (int r = 0; r < 3; ++r) {
    if (r) os << "; ";
    os << d[3 * r] << " " << d[3 * r + 1] << " " << d[3 * r + 2];
  }
  os << ")";
  return os.str();
}

}  // namespace

bool Geometry::same_as(const Geometry& o, double tol) const {
  return geometry_difference(*this, o, tol).empty();
}

std::string Geometry::str() const {
  std::ostringstream os;
  os << "size " << size_str(*this) << ", spacing " << vec_str(spacing, "x", "", "")
     << " mm, origin " << vec_str(origin, ", ", "(", ")") << ", direction "
     << dir_str(direction);
  return os.str();
}

std::string geometry_difference(const Geometry& a, const Geometry& b, double tol) {
  std::ostringstream os;
  auto add = [&os](const std::string& what, const std::string& va, const std::string& vb) {
    if (os.tellp() > 0) os << "; ";
    os << what << " " << va << " vs " << vb;
  };
  if (a.dims != b.dims) add("dims", std::to_string(a.dims), std::to_string(b.dims));
  if (a.size != b.size) add("size", size_str(a), size_str(b));
  bool spacing_ok = true, origin_ok = true, direction_ok = true;
  double floor_scale = std::max(origin_floor(a), origin_floor(b));
  for (int i = 0; i < 3; ++i) {
    spacing_ok = spacing_ok && close_rel(a.spacing[i], b.spacing[i], tol);
    origin_ok = origin_ok && close_rel(a.origin[i], b.origin[i], tol, floor_scale);
  }
  for (int i = 0; i < 9; ++i)
    direction_ok = direction_ok && std::fabs(a.direction[i] - b.direction[i]) <= tol;
  if (!spacing_ok)
    add("spacing", vec_str(a.spacing, "x", "", " mm"), vec_str(b.spacing, "x", "", " mm"));
  if (!origin_ok) add("origin", vec_str(a.origin, ", ", "(", ")"), vec_str(b.origin, ", ", "(", ")"));
  if (!direction_ok) add("direction", dir_str(a.direction), dir_str(b.direction));
  return os.str();
}

}  // namespace useg
