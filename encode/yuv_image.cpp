#include "encode/yuv_image.h"

#include <stdexcept>

namespace tessera {

void YuvImage::reset(YuvLayout layout, int32_t width, int32_t height, bool full_range) {
  if (width <= 0 || height <= 0 || width % 2 || height % 2)
    throw std::invalid_argument("YUV 4:2:0 needs an even, non-zero size");
  full_range_ = full_range;
  if (layout == layout_ && width == width_ && height == height_ && !data_.empty()) return;
  layout_ = layout;
  width_ = width;
  height_ = height;
  // Rows padded to 64 bytes: SIMD-friendly, and what hardware upload paths like.
  auto pad = [](int32_t n) { return (n + 63) & ~63; };
  stride_[0] = pad(width);
  offset_[0] = 0;
  size_t y_bytes = size_t(stride_[0]) * height;
  if (layout == YuvLayout::i420) {
    stride_[1] = stride_[2] = pad(width / 2);
    size_t c_bytes = size_t(stride_[1]) * (height / 2);
    offset_[1] = y_bytes;
    offset_[2] = y_bytes + c_bytes;
    data_.assign(y_bytes + 2 * c_bytes, 0);
  } else {
    stride_[1] = pad(width);
    stride_[2] = 0;
    offset_[1] = y_bytes;
    offset_[2] = 0;
    data_.assign(y_bytes + size_t(stride_[1]) * (height / 2), 0);
  }
}

}  // namespace tessera
