// The ITK side shared by the readers and writers: choosing an ImageIO for a file name, and
// moving geometry between an ImageIO and our Geometry. Only src/io includes this header.
#pragma once

#include <itkImageIOBase.h>

#include <string>

#include "io/io_common.h"
#include "useg/image.h"

namespace useg::io {

// The ImageIO ITK chooses for `path` (by its extension when writing, by probing the file when
// reading), with all our IO factories registered; null when none accepts it.
itk::ImageIOBase::Pointer create_image_io(const std::string& path, bool for_writing);

// Geometry from an ImageIO after ReadImageInformation, using its first min(dims, 3) axes.
// Negative spacings are folded into the direction, a singular direction becomes identity.
Geometry geometry_from_io(const itk::ImageIOBase& io);

// Sets dimensions, size, spacing, origin and direction of `io` (2D geometry -> 2D image).
void geometry_to_io(const Geometry& g, itk::ImageIOBase& io);

// "uint8", "int16", "float", ...
std::string component_type_name(itk::IOComponentEnum type);
// "NIfTI", "NRRD", "MetaImage", "TIFF", "PNG", "DICOM" (or ITK's class name).
std::string format_name(const itk::ImageIOBase& io);

// What MetaIO parsed from the header of a MetaImageIO after ReadImageInformation (or Write).
MetaFacts meta_facts(itk::ImageIOBase& io);
// The same for a MetaImage file on disk, its header read by a fresh MetaImageIO (ITK's writer
// keeps no header of what it wrote). Throws "cannot read <path>: ..." when MetaIO cannot.
MetaFacts meta_facts_of_file(const std::string& path);

}  // namespace useg::io
