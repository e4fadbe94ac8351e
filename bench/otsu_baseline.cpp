// The baseline the default model is compared with (docs/default-model.md): Otsu thresholding of
// an image's intensities with ITK's OtsuThresholdImageFilter. Voxels above the threshold get 1
// (bright objects: fluorescent nuclei), the others 0. The mask keeps the input's grid and
// geometry, so `useg eval --pred MASK --ref LABEL` scores it exactly as it scores a model's output.
//
//   useg_otsu_baseline INPUT OUTPUT [INSTANCES] [--bins N]   (2D or 3D, formats ITK reads/writes)
//
// INSTANCES, when given, gets the connected components of the mask (face connectivity, as
// `useg segment --instances`; uint16 ids by decreasing size) for `useg eval --instances`. Prints the threshold and the foreground fraction. Not part of the `useg` binary: a one-line
// intensity threshold is a reference point, not a segmentation method we offer.
#include <itkImage.h>
#include <itkImageFileReader.h>
#include <itkImageFileWriter.h>
#include <itkImageIOFactory.h>
#include <itkConnectedComponentImageFilter.h>
#include <itkImageRegionConstIterator.h>
#include <itkOtsuThresholdImageFilter.h>
#include <itkRelabelComponentImageFilter.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

namespace {

template <unsigned Dim>
int run(const std::string& in, const std::string& out, const std::string& instances, unsigned bins) {
  using Input = itk::Image<float, Dim>;
  using Mask = itk::Image<unsigned char, Dim>;
  auto reader = itk::ImageFileReader<Input>::New();
  reader->SetFileName(in);
  auto otsu = itk::OtsuThresholdImageFilter<Input, Mask>::New();
  otsu->SetInput(reader->GetOutput());
  otsu->SetNumberOfHistogramBins(bins);
  otsu->SetInsideValue(0);   // inside = at or below the threshold: background
  otsu->SetOutsideValue(1);  // above the threshold: foreground
  auto writer = itk::ImageFileWriter<Mask>::New();
  writer->SetInput(otsu->GetOutput());
  writer->SetFileName(out);
  writer->Update();

  if (!instances.empty()) {
    using Ids = itk::Image<unsigned short, Dim>;
    auto cc = itk::ConnectedComponentImageFilter<Mask, Ids>::New();
    cc->SetInput(otsu->GetOutput());
    cc->SetFullyConnected(false);
    auto relabel = itk::RelabelComponentImageFilter<Ids, Ids>::New();
    relabel->SetInput(cc->GetOutput());
    auto iw = itk::ImageFileWriter<Ids>::New();
    iw->SetInput(relabel->GetOutput());
    iw->SetFileName(instances);
    iw->Update();
    std::printf("otsu: %lu connected components -> %s\n",
                static_cast<unsigned long>(relabel->GetNumberOfObjects()), instances.c_str());
  }

  size_t total = 0, fg = 0;
  itk::ImageRegionConstIterator<Mask> it(otsu->GetOutput(), otsu->GetOutput()->GetLargestPossibleRegion());
  for (; !it.IsAtEnd(); ++it, ++total) fg += it.Get() != 0;
  std::printf("otsu: %s: threshold %g (%u bins), foreground %zu of %zu pixels (%.1f%%) -> %s\n",
              in.c_str(), static_cast<double>(otsu->GetThreshold()), bins, fg, total,
              total ? 100.0 * fg / total : 0.0, out.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> pos;
  unsigned bins = 128;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--bins" && i + 1 < argc) {
      bins = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
    } else if (!a.empty() && a[0] == '-') {
      pos.clear();
      break;
    } else {
      pos.push_back(a);
    }
  }
  if (pos.size() < 2 || pos.size() > 3) {
    std::fprintf(stderr, "usage: %s INPUT OUTPUT [INSTANCES] [--bins N]\n", argv[0]);
    return 2;
  }
  const std::string instances = pos.size() == 3 ? pos[2] : "";
  if (bins < 2) {
    std::fprintf(stderr, "useg_otsu_baseline: --bins must be at least 2\n");
    return 2;
  }
  try {
    auto io = itk::ImageIOFactory::CreateImageIO(pos[0].c_str(), itk::ImageIOFactory::IOFileModeEnum::ReadMode);
    if (!io) {
      std::fprintf(stderr, "useg_otsu_baseline: %s: no ITK reader for this file\n", pos[0].c_str());
      return 2;
    }
    io->SetFileName(pos[0]);
    io->ReadImageInformation();
    unsigned dim = io->GetNumberOfDimensions();
    // A 3D file with one slice is treated as 2D.
    if (dim == 3 && io->GetDimensions(2) == 1) dim = 2;
    if (dim == 2) return run<2>(pos[0], pos[1], instances, bins);
    if (dim == 3) return run<3>(pos[0], pos[1], instances, bins);
    std::fprintf(stderr, "useg_otsu_baseline: %s: %u dimensions, expected 2 or 3\n", pos[0].c_str(), dim);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "useg_otsu_baseline: %s\n", e.what());
    return 1;
  }
}
