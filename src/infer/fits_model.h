// The check that an image can be given to a model (private to src/infer): preprocess() and
// check_segmentable() both run it, so segment, the trainer and the benchmarks refuse a case with
// the same words.
#pragma once

#include "useg/config.h"
#include "useg/image.h"

namespace useg {

// Throws useg::Error naming image.source when the image's channel count is not the model's
// in_channels (listing the model's channel names), or when a 3D model is given a 2D image.
void check_fits_model(const Image& image, const ModelInfo& info);

}  // namespace useg
