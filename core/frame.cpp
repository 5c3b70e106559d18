#include "core/frame.h"

#include <cstring>
#include <stdexcept>

namespace tessera {

Frame::Frame(int32_t width, int32_t height, int32_t stride) {
  if (width < 0 || height < 0) throw std::invalid_argument("negative frame size");
  if (width > 16384 || height > 16384) throw std::invalid_argument("frame larger than 16384 px");
  if (stride == 0) stride = width * 4;
  if (stride < width * 4 || stride % 4 != 0) throw std::invalid_argument("bad frame stride");
  width_ = width;
  height_ = height;
  stride_ = stride;
  pixels_.assign(size_t(stride) * size_t(height), 0);
}

Frame Frame::uninitialized(int32_t width, int32_t height) {
  Frame f;
  if (width < 0 || height < 0) throw std::invalid_argument("negative frame size");
  if (width > 16384 || height > 16384) throw std::invalid_argument("frame larger than 16384 px");
  f.width_ = width;
  f.height_ = height;
  f.stride_ = width * 4;
  f.pixels_.resize(size_t(f.stride_) * size_t(height));
  return f;
}

void Frame::fill(const Rect& r, uint32_t px) {
  Rect c = r.intersect(bounds());
  for (int32_t y = c.y; y < c.bottom(); ++y) {
    uint32_t* p = row(y) + c.x;
    std::fill(p, p + c.width, px);
  }
}

void Frame::copy_from(const Frame& src, const Rect& r) {
  Rect c = r.intersect(bounds()).intersect(src.bounds());
  for (int32_t y = c.y; y < c.bottom(); ++y)
    std::memcpy(row(y) + c.x, src.row(y) + c.x, size_t(c.width) * 4);
}

bool Frame::same_pixels(const Frame& other, const Rect& r) const {
  Rect c = r.intersect(bounds()).intersect(other.bounds());
  for (int32_t y = c.y; y < c.bottom(); ++y) {
    const uint32_t* a = row(y) + c.x;
    const uint32_t* b = other.row(y) + c.x;
    for (int32_t x = 0; x < c.width; ++x)
      if (rgb_of(a[x]) != rgb_of(b[x])) return false;
  }
  return true;
}

}  // namespace tessera
