// Connected components of label maps with ITK: keep the largest per class, drop small ones,
// fill holes, and number instances. Components are found class by class with face connectivity
// (ConnectedComponentImageFilter, FullyConnected off) and sorted by size with
// RelabelComponentImageFilter (ties keep the raster order of their first voxel).
#include <itkBinaryFillholeImageFilter.h>
#include <itkConnectedComponentImageFilter.h>
#include <itkMultiThreaderBase.h>
#include <itkRelabelComponentImageFilter.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "imaging/itk_image.h"
#include "useg/error.h"
#include "useg/labels.h"

namespace useg {

namespace {

using imaging::image_from;

void check_labels(const Tensor& labels, const Geometry& g, const char* what) {
  const Shape& s = labels.shape();
  USEG_CHECK(labels.defined() && labels.device() == Device::CPU && s.rank() == 5 && s[0] == 1 &&
                 s[1] == 1 && s[2] == g.size[2] && s[3] == g.size[1] && s[4] == g.size[0],
             what << ": labels " << s.str() << " do not match " << g.str()
                  << " (expected a CPU tensor [1, 1, D, H, W])");
  USEG_CHECK(g.dims == 2 || g.dims == 3, what << ": geometry has dims " << g.dims);
}

// Components of class k, relabelled 1..n by decreasing size; sizes[i] = voxels of component i+1.
template <unsigned D>
std::vector<uint32_t> class_components(const float* labels, const Geometry& g, int k,
                                       std::vector<uint64_t>* sizes) {
  using Mask = itk::Image<uint8_t, D>;
  using Lab = itk::Image<uint32_t, D>;
  auto mask = image_from<uint8_t, D>(g, nullptr);
  uint8_t* m = mask->GetBufferPointer();
  const int64_t n = g.voxels();
  bool any = false;
  for (int64_t i = 0; i < n; ++i) {
    m[i] = labels[i] == float(k) ? 1 : 0;
    any = any || m[i];
  }
  std::vector<uint32_t> comp(static_cast<size_t>(n), 0);
  sizes->clear();
  if (!any) return comp;
  auto cc = itk::ConnectedComponentImageFilter<Mask, Lab>::New();
  cc->SetInput(mask);
  cc->SetFullyConnected(false);
  auto relabel = itk::RelabelComponentImageFilter<Lab, Lab>::New();
  relabel->SetInput(cc->GetOutput());
  relabel->SetSortByObjectSize(true);
  relabel->Update();
  for (auto s : relabel->GetSizeOfObjectsInPixels()) sizes->push_back(static_cast<uint64_t>(s));
  const uint32_t* r = relabel->GetOutput()->GetBufferPointer();
  std::copy(r, r + n, comp.begin());
  return comp;
}

// Sets voxels of class k (every foreground class, or those in `only` when it is not empty) whose
// component id fails `keep` to background.
template <unsigned D, typename Keep>
void filter_components(Tensor& labels, const Geometry& g, int num_classes, Keep keep,
                       const std::vector<int>& only = {}) {
  float* l = labels.data();
  const int64_t n = g.voxels();
  for (int k = 1; k < num_classes; ++k) {
    if (!only.empty() && std::find(only.begin(), only.end(), k) == only.end()) continue;
    std::vector<uint64_t> sizes;
    std::vector<uint32_t> comp = class_components<D>(l, g, k, &sizes);
    if (sizes.empty()) continue;
    for (int64_t i = 0; i < n; ++i)
      if (comp[i] && !keep(comp[i], sizes[comp[i] - 1])) l[i] = 0.f;
  }
}

template <unsigned D>
void fill_holes_d(Tensor& labels, const Geometry& g, int num_classes) {
  using Mask = itk::Image<uint8_t, D>;
  float* l = labels.data();
  const int64_t n = g.voxels();
  for (int k = 1; k < num_classes; ++k) {
    auto mask = image_from<uint8_t, D>(g, nullptr);
    uint8_t* m = mask->GetBufferPointer();
    bool any = false;
    for (int64_t i = 0; i < n; ++i) {
      m[i] = l[i] == float(k) ? 1 : 0;
      any = any || m[i];
    }
    if (!any) continue;
    auto fill = itk::BinaryFillholeImageFilter<Mask>::New();
    fill->SetInput(mask);
    fill->SetForegroundValue(1);
    fill->SetFullyConnected(false);
    fill->Update();
    const uint8_t* f = fill->GetOutput()->GetBufferPointer();
    for (int64_t i = 0; i < n; ++i)
      if (f[i] && l[i] == 0.f) l[i] = float(k);
  }
}

template <unsigned D>
Tensor instances_d(const Tensor& labels, const Geometry& g, int num_classes,
                   std::vector<int>* instance_class) {
  Tensor out = Tensor::zeros(labels.shape());
  float* o = out.data();
  const int64_t n = g.voxels();
  uint32_t next = 0;
  if (instance_class) instance_class->clear();
  for (int k = 1; k < num_classes; ++k) {
    std::vector<uint64_t> sizes;
    std::vector<uint32_t> comp = class_components<D>(labels.data(), g, k, &sizes);
    for (int64_t i = 0; i < n; ++i)
      if (comp[i]) o[i] = static_cast<float>(next + comp[i]);
    next += static_cast<uint32_t>(sizes.size());
    if (instance_class) instance_class->insert(instance_class->end(), sizes.size(), k);
  }
  USEG_CHECK(next < (1u << 24), "label_instances: " << next
                                    << " instances do not fit exactly in float32 labels");
  return out;
}

template <typename F>
auto run_itk(const char* what, F f) {
  try {
    return f();
  } catch (const itk::ExceptionObject& e) {
    USEG_THROW(what << " failed: " << e.GetDescription());
  }
}

}  // namespace

void set_imaging_threads(int threads) {
  if (threads > 0) itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(threads);
}

int imaging_threads() { return int(itk::MultiThreaderBase::GetGlobalDefaultNumberOfThreads()); }

void keep_largest_component(Tensor& labels, const Geometry& g, int num_classes,
                            const std::vector<int>& classes) {
  check_labels(labels, g, "keep_largest_component");
  auto keep = [](uint32_t id, uint64_t) { return id == 1; };
  run_itk("keeping the largest component", [&] {
    g.dims == 2 ? filter_components<2>(labels, g, num_classes, keep, classes)
                : filter_components<3>(labels, g, num_classes, keep, classes);
  });
}

void remove_small_components(Tensor& labels, const Geometry& g, int num_classes,
                             double min_voxels) {
  check_labels(labels, g, "remove_small_components");
  auto keep = [min_voxels](uint32_t, uint64_t size) { return double(size) >= min_voxels; };
  run_itk("removing small components", [&] {
    g.dims == 2 ? filter_components<2>(labels, g, num_classes, keep)
                : filter_components<3>(labels, g, num_classes, keep);
  });
}

void fill_holes(Tensor& labels, const Geometry& g, int num_classes) {
  check_labels(labels, g, "fill_holes");
  run_itk("filling holes", [&] {
    g.dims == 2 ? fill_holes_d<2>(labels, g, num_classes) : fill_holes_d<3>(labels, g, num_classes);
  });
}

Tensor label_instances(const Tensor& labels, const Geometry& g, int num_classes,
                       std::vector<int>* instance_class) {
  check_labels(labels, g, "label_instances");
  return run_itk("labelling instances", [&] {
    return g.dims == 2 ? instances_d<2>(labels, g, num_classes, instance_class)
                       : instances_d<3>(labels, g, num_classes, instance_class);
  });
}

}  // namespace useg
