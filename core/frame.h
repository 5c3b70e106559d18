#pragma once
// A captured picture: 32-bit BGRX pixels (B in the lowest byte), rows `stride` bytes apart.
#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/rect.h"

namespace tessera {

// Leaves bytes a vector grows by unset: a frame about to be overwritten whole (a capture) need
// not be cleared first.
template <class T>
struct DefaultInitAllocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  using std::allocator<T>::allocator;
  template <class U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... A>
  void construct(U* p, A&&... a) {
    ::new (static_cast<void*>(p)) U(std::forward<A>(a)...);
  }
};

class Frame {
 public:
  Frame() = default;
  // stride 0 means tightly packed (width * 4). A larger stride leaves padding after each row.
  // The pixels start black (zero).
  Frame(int32_t width, int32_t height, int32_t stride = 0);
  // A tightly packed frame whose pixels are left unset, for callers that write every one.
  static Frame uninitialized(int32_t width, int32_t height);

  int32_t width() const { return width_; }
  int32_t height() const { return height_; }
  int32_t stride() const { return stride_; }
  Size size() const { return {width_, height_}; }
  Rect bounds() const { return {0, 0, width_, height_}; }
  bool empty() const { return width_ == 0 || height_ == 0; }

  uint8_t* data() { return pixels_.data(); }
  const uint8_t* data() const { return pixels_.data(); }
  size_t byte_size() const { return pixels_.size(); }

  uint32_t* row(int32_t y) { return reinterpret_cast<uint32_t*>(pixels_.data() + size_t(y) * stride_); }
  const uint32_t* row(int32_t y) const {
    return reinterpret_cast<const uint32_t*>(pixels_.data() + size_t(y) * stride_);
  }
  uint32_t pixel(int32_t x, int32_t y) const { return row(y)[x]; }
  void set_pixel(int32_t x, int32_t y, uint32_t bgrx) { row(y)[x] = bgrx; }

  void fill(const Rect& r, uint32_t bgrx);
  // Copies `r` out of `src` to the same place here; both frames must hold `r`.
  void copy_from(const Frame& src, const Rect& r);
  // True when every pixel inside `r` matches (the padding and the X byte are ignored).
  bool same_pixels(const Frame& other, const Rect& r) const;

 private:
  int32_t width_ = 0;
  int32_t height_ = 0;
  int32_t stride_ = 0;
  std::vector<uint8_t, DefaultInitAllocator<uint8_t>> pixels_;
};

using FramePtr = std::shared_ptr<const Frame>;

// Pixel helpers: BGRX with the X byte set so that tools which read it as alpha see opaque.
constexpr uint32_t bgrx(uint8_t r, uint8_t g, uint8_t b) {
  return 0xFF000000u | (uint32_t{r} << 16) | (uint32_t{g} << 8) | b;
}
constexpr uint32_t rgb_of(uint32_t px) { return px & 0x00FFFFFFu; }

}  // namespace tessera
