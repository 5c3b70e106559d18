#include "core/png_file.h"

#include <png.h>

#include <cstring>
#include <stdexcept>
#include <vector>

namespace tessera {

Frame read_png(const std::string& path) {
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&img, path.c_str()))
    throw std::runtime_error("cannot read PNG " + path + ": " + img.message);
  if (img.width == 0 || img.height == 0 || img.width > 16384 || img.height > 16384) {
    png_image_free(&img);
    throw std::runtime_error("PNG " + path + " has an unsupported size");
  }
  // BGRA in memory matches BGRX; the alpha byte is then forced opaque.
  img.format = PNG_FORMAT_BGRA;
  Frame f(int32_t(img.width), int32_t(img.height));
  if (!png_image_finish_read(&img, nullptr, f.data(), f.stride(), nullptr)) {
    std::string msg = img.message;
    png_image_free(&img);
    throw std::runtime_error("cannot decode PNG " + path + ": " + msg);
  }
  for (int32_t y = 0; y < f.height(); ++y) {
    uint32_t* r = f.row(y);
    for (int32_t x = 0; x < f.width(); ++x) r[x] |= 0xFF000000u;
  }
  return f;
}

void write_png(const Frame& frame, const std::string& path) {
  std::vector<uint8_t> rgb(size_t(frame.width()) * frame.height() * 3);
  size_t o = 0;
  for (int32_t y = 0; y < frame.height(); ++y) {
    const uint32_t* r = frame.row(y);
    for (int32_t x = 0; x < frame.width(); ++x) {
      rgb[o++] = uint8_t(r[x] >> 16);
      rgb[o++] = uint8_t(r[x] >> 8);
      rgb[o++] = uint8_t(r[x]);
    }
  }
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = png_uint_32(frame.width());
  img.height = png_uint_32(frame.height());
  img.format = PNG_FORMAT_RGB;
  if (!png_image_write_to_file(&img, path.c_str(), 0, rgb.data(), frame.width() * 3, nullptr))
    throw std::runtime_error("cannot write PNG " + path + ": " + img.message);
}

}  // namespace tessera
