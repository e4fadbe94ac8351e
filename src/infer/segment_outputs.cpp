// The outputs of one segmented case: file names, the measurement CSV, and writing them all
// (each atomically: write_image and write_file_atomic go through a temporary file + rename).
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "useg/error.h"
#include "core/files.h"
#include "plot/preview.h"
#include "useg/segment.h"
#include "util/csv.h"

namespace fs = std::filesystem;

namespace useg {

std::vector<std::string> CaseOutputs::all() const {
  std::vector<std::string> out;
  if (!labels.empty()) out.push_back(labels);
  out.insert(out.end(), probabilities.begin(), probabilities.end());
  for (const std::string* p : {&instances, &measurements, &preview})
    if (!p->empty()) out.push_back(*p);
  return out;
}

std::string label_pixel_type(int num_classes) { return num_classes < 256 ? "uint8" : "uint16"; }
std::string instance_pixel_type(size_t objects) { return objects <= 65535 ? "uint16" : "uint32"; }

CaseOutputs case_outputs(const std::string& dir, const std::string& name, const std::string& ext,
                         int num_classes, const SegmentOptions& opts) {
  std::string base = dir.empty() ? name
                    : dir.back() == '/' ? dir + name
                                        : dir + "/" + name;
  CaseOutputs o;
  o.labels = base + ext;
  if (opts.save_probabilities) {
    std::string pext = ext == ".png" ? ".nii.gz" : ext;
    for (int k = 0; k < num_classes; ++k)
      o.probabilities.push_back(base + "_prob_" + std::to_string(k) + pext);
  }
  if (opts.instances) o.instances = base + "_instances" + ext;
  if (opts.measure) o.measurements = base + "_measurements.csv";
  if (opts.preview) o.preview = base + "_preview.png";
  return o;
}

namespace {
std::string num(double v) {  // measurements: 9 significant digits (float precision and a bit)
  char b[40];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}
}  // namespace

void write_probabilities(const std::vector<std::string>& files, const Tensor& probabilities,
                         const Geometry& g) {
  USEG_REQUIRE(probabilities.shape().c() == int64_t(files.size()),
               "write_probabilities: " << files.size() << " files for " << probabilities.shape().c()
                                       << " classes");
  const int64_t v = g.voxels();
  for (size_t k = 0; k < files.size(); ++k) {
    Tensor pk = Tensor::wrap(const_cast<float*>(probabilities.data()) + int64_t(k) * v,
                             Shape::ncdhw(1, 1, g.size[2], g.size[1], g.size[0]));
    write_image(files[k], pk, g, "float");
  }
}

std::string measurements_csv(const std::string& case_name, const std::vector<ObjectMeasure>& rows,
                             const Geometry& g, const std::vector<std::string>& class_names) {
  std::ostringstream os;
  os << "case,label,class,class_name,voxels,physical_size,physical_unit,centroid_x_mm,"
        "centroid_y_mm,centroid_z_mm,bbox_x0,bbox_y0,bbox_z0,bbox_x1,bbox_y1,bbox_z1,"
        "mean_intensity,min_intensity,max_intensity,elongation,roundness\n";
  const char* unit = g.dims == 2 ? "mm2" : "mm3";
  for (const ObjectMeasure& m : rows) {
    std::string cname = m.cls >= 0 && size_t(m.cls) < class_names.size()
                            ? class_names[size_t(m.cls)]
                            : "class" + std::to_string(m.cls);
    os << csv_field(case_name) << "," << m.label << "," << m.cls << "," << csv_field(cname) << ","
       << m.voxels << "," << num(m.physical_size) << "," << unit;
    for (double c : m.centroid) os << "," << num(c);
    for (int64_t v : m.bbox_min) os << "," << v;
    for (int64_t v : m.bbox_max) os << "," << v;
    os << "," << num(m.mean) << "," << num(m.min) << "," << num(m.max) << ","
       << num(m.elongation) << "," << num(m.roundness) << "\n";
  }
  return os.str();
}

void write_segmentation(const Image& image, const Segmentation& seg, const ModelInfo& info,
                        const CaseOutputs& out, const std::string& case_name) {
  const Geometry& g = image.geometry;
  const int K = info.model.num_classes;
  const std::vector<std::string> names = output_labels(info);
  for (const std::string& p : out.all()) {
    std::error_code ec;
    fs::path dir = fs::path(p).parent_path();
    if (!dir.empty()) fs::create_directories(dir, ec);
    if (ec) USEG_THROW("cannot create the folder " << dir.string() << " for " << p << ": "
                                                   << ec.message());
  }
  if (!out.labels.empty())
    write_image(out.labels, seg.labels, g, label_pixel_type(info.instance_target() ? 2 : K));
  if (!out.probabilities.empty()) {
    USEG_REQUIRE(seg.probabilities.defined() && seg.probabilities.shape().c() == K,
                 "write_segmentation: probabilities were not kept (save_probabilities)");
    write_probabilities(out.probabilities, seg.probabilities, g);
  }
  if (!out.instances.empty()) {
    const std::string pixel = instance_pixel_type(seg.instance_class.size());
    write_image(out.instances, seg.instances, g, pixel);
  }
  if (!out.measurements.empty()) {
    std::vector<ObjectMeasure> rows =
        measure_objects(seg.instances, seg.instance_class, g, image.voxels);
    write_file_atomic(out.measurements, measurements_csv(case_name, rows, g, names));
  }
  // An instance model's preview shows its objects (each its own colour); others their classes.
  if (!out.preview.empty() && info.instance_target())
    write_instance_preview_png(out.preview, image, seg.instances, info.instances.object,
                               case_name);
  else if (!out.preview.empty())
    write_preview_png(out.preview, image, seg.labels, names, case_name);
}

}  // namespace useg
