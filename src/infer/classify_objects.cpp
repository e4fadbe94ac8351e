// Object classification: a crop around each segmented object, its class from a classifier, and
// the class added to the object's row of CASE_measurements.csv.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <sstream>

#include "core/files.h"
#include "useg/classify.h"
#include "useg/error.h"
#include "util/csv.h"

namespace useg {

Image object_crop(const Image& image, const std::array<int64_t, 3>& lo,
                  const std::array<int64_t, 3>& hi, double margin, int64_t min_size) {
  const Geometry& g = image.geometry;
  const int dims = g.dims;
  // The side: the largest extent of the box (in voxels) times the margin, the same on each axis
  // of the image's dimensionality (a square / cube), at least min_size.
  int64_t side = 1;
  for (int a = 0; a < dims; ++a) side = std::max(side, hi[size_t(a)] - lo[size_t(a)] + 1);
  side = std::max<int64_t>(min_size, int64_t(std::ceil(double(side) * margin)));
  std::array<int64_t, 3> start{0, 0, 0}, size{1, 1, 1};
  for (int a = 0; a < dims; ++a) {
    const int64_t centre2 = lo[size_t(a)] + hi[size_t(a)];  // twice the centre
    start[size_t(a)] = (centre2 - side + 1) / 2;
    size[size_t(a)] = side;
  }
  const Shape& s = image.voxels.shape();
  const int64_t C = s.c();
  float fill = std::numeric_limits<float>::max();
  const float* v = image.voxels.data();
  for (int64_t i = 0; i < image.voxels.numel(); ++i) fill = std::min(fill, v[i]);
  Image out;
  out.source = image.source;
  out.geometry = g;
  out.geometry.size = size;
  // The crop's origin: the physical point of its first voxel (index `start`).
  for (int r = 0; r < 3; ++r) {
    double p = g.origin[size_t(r)];
    for (int c = 0; c < 3; ++c)
      p += g.direction[size_t(3 * r + c)] * g.spacing[size_t(c)] * double(start[size_t(c)]);
    out.geometry.origin[size_t(r)] = p;
  }
  out.voxels = Tensor::empty(Shape{1, C, size[2], size[1], size[0]});
  float* o = out.voxels.data();
  for (int64_t c = 0; c < C; ++c)
    for (int64_t z = 0; z < size[2]; ++z)
      for (int64_t y = 0; y < size[1]; ++y)
        for (int64_t x = 0; x < size[0]; ++x) {
          const int64_t sx = start[0] + x, sy = start[1] + y, sz = start[2] + z;
          const bool inside = sx >= 0 && sy >= 0 && sz >= 0 && sx < g.size[0] && sy < g.size[1] &&
                              sz < g.size[2];
          *o++ = inside ? v[((c * g.size[2] + sz) * g.size[1] + sy) * g.size[0] + sx] : fill;
        }
  return out;
}

std::vector<ObjectClass> classify_objects(Classifier& clf, const Image& image,
                                          const Tensor& instances, double margin, int batch) {
  const Geometry& g = image.geometry;
  USEG_REQUIRE(instances.numel() == g.voxels(),
               image.source << ": the instance image has " << instances.numel()
                            << " voxels, the image " << g.voxels());
  // Bounding boxes of ids 1..N.
  const float* ids = instances.data();
  int64_t n = 0;
  for (int64_t i = 0; i < instances.numel(); ++i) n = std::max(n, int64_t(ids[i]));
  std::vector<std::array<int64_t, 3>> lo(size_t(n + 1), {INT64_MAX, INT64_MAX, INT64_MAX}),
      hi(size_t(n + 1), {-1, -1, -1});
  int64_t i = 0;
  for (int64_t z = 0; z < g.size[2]; ++z)
    for (int64_t y = 0; y < g.size[1]; ++y)
      for (int64_t x = 0; x < g.size[0]; ++x, ++i) {
        const int64_t id = int64_t(ids[i]);
        if (id <= 0) continue;
        const std::array<int64_t, 3> p{x, y, z};
        for (size_t a = 0; a < 3; ++a)
          lo[size_t(id)][a] = std::min(lo[size_t(id)][a], p[a]),
          hi[size_t(id)][a] = std::max(hi[size_t(id)][a], p[a]);
      }
  std::vector<ObjectClass> out(static_cast<size_t>(n));
  std::vector<Tensor> inputs;
  std::vector<size_t> which;
  const int64_t min_size = 4;
  for (int64_t id = 1; id <= n; ++id) {
    out[size_t(id - 1)].id = id;
    if (hi[size_t(id)][0] < 0) continue;
    inputs.push_back(classifier_input(
        object_crop(image, lo[size_t(id)], hi[size_t(id)], margin, min_size), clf.info()));
    which.push_back(size_t(id - 1));
  }
  std::vector<std::vector<double>> p = clf.probabilities(inputs, batch);
  for (size_t j = 0; j < p.size(); ++j) {
    ObjectClass& o = out[which[j]];
    o.cls = int(std::max_element(p[j].begin(), p[j].end()) - p[j].begin());
    o.probability = std::move(p[j]);
  }
  return out;
}

std::string add_object_classes(const std::string& csv, const std::vector<ObjectClass>& objects,
                               const std::vector<std::string>& classes,
                               const std::string& class_column, const std::string& source) {
  std::map<int64_t, const ObjectClass*> by_id;
  for (const ObjectClass& o : objects) by_id[o.id] = &o;
  std::istringstream in(csv);
  std::ostringstream out;
  std::string line;
  int id_col = -1;
  std::vector<bool> keep;
  const std::string prob_column = class_column + "_probability";
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> f = csv_split(line);
    if (id_col < 0) {
      for (size_t i = 0; i < f.size(); ++i) {
        if (f[i] == "label") id_col = int(i);
        keep.push_back(f[i] != class_column && f[i] != prob_column);
      }
      USEG_REQUIRE(id_col >= 0, source << ": line 1 has no column 'label' (the object id of useg "
                                          "segment --measure's CSV)");
    }
    std::string row;
    for (size_t i = 0; i < f.size(); ++i)
      if (i >= keep.size() || keep[i]) row += (row.empty() ? "" : ",") + csv_field(f[i]);
    if (n == 1) {
      out << row << "," << csv_field(class_column) << "," << csv_field(prob_column) << "\n";
      continue;
    }
    USEG_REQUIRE(size_t(id_col) < f.size(), source << " line " << n << ": no column 'label'");
    char* end = nullptr;
    const long long id = std::strtoll(f[size_t(id_col)].c_str(), &end, 10);
    USEG_REQUIRE(end && *end == '\0', source << " line " << n << ": label '" << f[size_t(id_col)]
                                             << "' is not an object id");
    auto found = by_id.find(id);
    if (found != by_id.end() && found->second->cls >= 0) {
      const ObjectClass& o = *found->second;
      out << row << "," << csv_field(classes[size_t(o.cls)]) << ","
          << csv_number(o.probability[size_t(o.cls)]) << "\n";
    } else {
      out << row << ",,\n";
    }
  }
  return out.str();
}

}  // namespace useg

namespace useg {

int64_t classify_case_objects(Classifier& clf, const std::vector<std::string>& image_files,
                              const std::string& instances_path,
                              const std::string& measurements_path, double margin, int batch) {
  Image image = image_files.size() == 1 ? read_image(image_files[0])
                                        : read_image_channels(image_files);
  Image instances = read_image(instances_path);
  USEG_REQUIRE(instances.geometry.same_as(image.geometry),
               instances_path << " does not have the geometry of " << image.source << " ("
                              << instances.geometry.str() << " vs " << image.geometry.str() << ")");
  std::vector<ObjectClass> objects =
      classify_objects(clf, image, instances.voxels, margin, batch);
  const std::string csv = read_file(measurements_path);
  write_file_atomic(measurements_path, add_object_classes(csv, objects, clf.classes(),
                                                          "object_class", measurements_path));
  int64_t n = 0;
  for (const ObjectClass& o : objects) n += o.cls >= 0;
  return n;
}

}  // namespace useg
