// A PNG header check run before ITK sees the file. ITK 5.2's PNGImageIO::ReadImageInformation
// calls png_read_info without a setjmp error context, so a malformed chunk before the image data
// (found by fuzzing: a bad sCAL chunk) makes libpng call abort() and kills the whole process —
// a batch of hundreds of cases included. Here libpng reads the same chunks with an error handler
// that longjmps back, and a bad file becomes an ordinary error naming it.
#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>

#include "io/io_common.h"
#include "useg/error.h"

namespace useg::io {

namespace {

struct PngErrorContext {
  std::jmp_buf jump;
  char message[256] = {0};
};

extern "C" void png_check_error(png_structp png, png_const_charp msg) {
  auto* ctx = static_cast<PngErrorContext*>(png_get_error_ptr(png));
  std::snprintf(ctx->message, sizeof ctx->message, "%s", msg ? msg : "unknown error");
  std::longjmp(ctx->jump, 1);
}

extern "C" void png_check_warning(png_structp, png_const_charp) {}

// Plain C control flow only between setjmp and longjmp (no objects with destructors).
bool read_png_info(std::FILE* f, PngErrorContext* ctx) {
  png_structp png =
      png_create_read_struct(PNG_LIBPNG_VER_STRING, ctx, png_check_error, png_check_warning);
  if (!png) {
    std::snprintf(ctx->message, sizeof ctx->message, "out of memory");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    std::snprintf(ctx->message, sizeof ctx->message, "out of memory");
    return false;
  }
  if (setjmp(ctx->jump)) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_init_io(png, f);
  png_read_info(png, info);
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

}  // namespace

void check_png_header(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) USEG_THROW("cannot read " << path << ": " << std::strerror(errno));
  unsigned char sig[8] = {0};
  size_t n = std::fread(sig, 1, sizeof sig, f);
  std::rewind(f);
  if (n != sizeof sig || png_sig_cmp(sig, 0, sizeof sig) != 0) {
    std::fclose(f);
    USEG_THROW("cannot read " << path << ": not a PNG file (its first bytes are not the PNG "
                                         "signature)");
  }
  PngErrorContext ctx;
  bool ok = read_png_info(f, &ctx);
  std::fclose(f);
  if (!ok) USEG_THROW("cannot read " << path << ": not a valid PNG file (" << ctx.message << ")");
}

}  // namespace useg::io
