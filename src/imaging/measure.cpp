// Per-object measurements with ITK: shape from LabelImageToShapeLabelMapFilter (voxel count,
// physical size, physical centroid, bounding box, elongation, roundness — perimeter computed so
// that roundness is defined) and intensities from LabelStatisticsImageFilter.
#include <itkLabelImageToShapeLabelMapFilter.h>
#include <itkLabelStatisticsImageFilter.h>

#include "imaging/itk_image.h"
#include "useg/error.h"
#include "useg/labels.h"

namespace useg {

namespace {

template <unsigned D>
std::vector<ObjectMeasure> measure_d(const Tensor& instances,
                                     const std::vector<int>& instance_class, const Geometry& g,
                                     const Tensor& intensity) {
  using Lab = itk::Image<uint32_t, D>;
  using Flt = itk::Image<float, D>;
  auto labels = imaging::image_from<uint32_t, D>(g, instances.data());
  auto shape = itk::LabelImageToShapeLabelMapFilter<Lab>::New();
  shape->SetInput(labels);
  shape->SetBackgroundValue(0);
  shape->SetComputePerimeter(true);
  shape->Update();
  auto stats = itk::LabelStatisticsImageFilter<Flt, Lab>::New();
  stats->SetInput(imaging::float_view<D>(g, intensity.data()));  // channel 0
  stats->SetLabelInput(labels);
  stats->Update();

  std::vector<ObjectMeasure> out;
  auto* map = shape->GetOutput();
  for (uint32_t id = 1; id <= instance_class.size(); ++id) {
    if (!map->HasLabel(id)) continue;
    const auto* obj = map->GetLabelObject(id);
    ObjectMeasure m;
    m.label = id;
    m.cls = instance_class[id - 1];
    m.voxels = static_cast<int64_t>(obj->GetNumberOfPixels());
    m.physical_size = obj->GetPhysicalSize();
    auto c = obj->GetCentroid();
    auto box = obj->GetBoundingBox();
    for (unsigned i = 0; i < D; ++i) {
      m.centroid[i] = c[i];
      m.bbox_min[i] = box.GetIndex(i);
      m.bbox_max[i] = box.GetIndex(i) + static_cast<int64_t>(box.GetSize(i)) - 1;
    }
    m.elongation = obj->GetElongation();
    m.roundness = obj->GetRoundness();
    m.mean = stats->GetMean(id);
    m.min = stats->GetMinimum(id);
    m.max = stats->GetMaximum(id);
    out.push_back(m);
  }
  return out;
}

}  // namespace

std::vector<ObjectMeasure> measure_objects(const Tensor& instances,
                                           const std::vector<int>& instance_class,
                                           const Geometry& g, const Tensor& intensity) {
  const Shape& s = instances.shape();
  USEG_CHECK(instances.defined() && instances.device() == Device::CPU && s.rank() == 5 &&
                 s[1] == 1 && s[2] == g.size[2] && s[3] == g.size[1] && s[4] == g.size[0],
             "measure_objects: instances " << s.str() << " do not match " << g.str());
  const Shape& t = intensity.shape();
  USEG_CHECK(intensity.defined() && intensity.device() == Device::CPU && t.rank() == 5 &&
                 t[2] == s[2] && t[3] == s[3] && t[4] == s[4],
             "measure_objects: intensity " << t.str() << " does not match instances "
                                           << s.str());
  try {
    return g.dims == 2 ? measure_d<2>(instances, instance_class, g, intensity)
                       : measure_d<3>(instances, instance_class, g, intensity);
  } catch (const itk::ExceptionObject& e) {
    USEG_THROW("measuring objects failed: " << e.GetDescription());
  }
}

}  // namespace useg
