// Segments one image with a useg model folder through the public API and writes the labels on
// the input's grid (same size, spacing, origin and direction).
//   segment_one MODEL_DIR IMAGE OUTPUT      (OUTPUT's extension picks the format: .nii.gz, .mha...)
#include <iostream>

#include "useg/backend.h"
#include "useg/error.h"
#include "useg/image.h"
#include "useg/model.h"
#include "useg/segment.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: " << argv[0] << " MODEL_DIR IMAGE OUTPUT\n";
    return 2;
  }
  try {
    auto backend = useg::make_backend(useg::Device::CPU);
    useg::LoadedModel model = useg::load_model_dir(argv[1], *backend);
    useg::Image image = useg::read_image(argv[2]);
    useg::check_segmentable(image, model.info);
    useg::Segmentation seg = useg::segment_image(image, model.info, *model.net, {});
    const int classes = static_cast<int>(useg::output_labels(model.info).size());
    useg::write_image(argv[3], seg.labels, image.geometry, useg::label_pixel_type(classes));
    std::cout << "wrote " << argv[3] << " (" << image.geometry.str() << ")\n";
  } catch (const useg::Error& e) {
    std::cerr << "segment_one: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
