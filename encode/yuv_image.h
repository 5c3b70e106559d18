#pragma once
// A planar YUV 4:2:0 picture in one of the two layouts encoders take: I420 (Y, U, V planes) or
// NV12 (Y plane, interleaved UV). Even width and height, BT.601 colours (BT.709 when asked),
// limited (video) range unless `full_range` (JPEG) is set.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tessera {

enum class YuvLayout { i420, nv12 };

class YuvImage {
 public:
  YuvImage() = default;
  YuvImage(YuvLayout layout, int32_t width, int32_t height, bool full_range = false) {
    reset(layout, width, height, full_range);
  }
  // Reallocates only when the size or layout changed.
  void reset(YuvLayout layout, int32_t width, int32_t height, bool full_range = false);

  YuvLayout layout() const { return layout_; }
  int32_t width() const { return width_; }
  int32_t height() const { return height_; }
  bool full_range() const { return full_range_; }
  bool bt709() const { return bt709_; }
  void set_bt709(bool on) { bt709_ = on; }
  // Plane 0 is Y; for I420 planes 1 and 2 are U and V; for NV12 plane 1 is UV.
  int planes() const { return layout_ == YuvLayout::i420 ? 3 : 2; }
  uint8_t* plane(int i) { return data_.data() + offset_[i]; }
  const uint8_t* plane(int i) const { return data_.data() + offset_[i]; }
  int32_t stride(int i) const { return stride_[i]; }

 private:
  YuvLayout layout_ = YuvLayout::i420;
  int32_t width_ = 0, height_ = 0;
  bool full_range_ = false;
  bool bt709_ = false;
  int32_t stride_[3] = {0, 0, 0};
  size_t offset_[3] = {0, 0, 0};
  std::vector<uint8_t> data_;
};

}  // namespace tessera
