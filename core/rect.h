#pragma once
// Axis-aligned pixel rectangle: origin plus size, half-open on the far edges.
#include <algorithm>
#include <cstdint>

namespace tessera {

struct Rect {
  int32_t x = 0;
  int32_t y = 0;
  int32_t width = 0;
  int32_t height = 0;

  int32_t right() const { return x + width; }
  int32_t bottom() const { return y + height; }
  bool empty() const { return width <= 0 || height <= 0; }
  int64_t area() const { return empty() ? 0 : int64_t{width} * height; }

  Rect intersect(const Rect& o) const {
    int32_t l = std::max(x, o.x), t = std::max(y, o.y);
    int32_t r = std::min(right(), o.right()), b = std::min(bottom(), o.bottom());
    if (r <= l || b <= t) return {};
    return {l, t, r - l, b - t};
  }
  bool contains(int32_t px, int32_t py) const {
    return px >= x && py >= y && px < right() && py < bottom();
  }
  bool intersects(const Rect& o) const { return !intersect(o).empty(); }
  // The smallest rectangle holding both (an empty one adds nothing).
  Rect united(const Rect& o) const {
    if (o.empty()) return *this;
    if (empty()) return o;
    int32_t l = std::min(x, o.x), t = std::min(y, o.y);
    int32_t r = std::max(right(), o.right()), b = std::max(bottom(), o.bottom());
    return {l, t, r - l, b - t};
  }
  // True when `o` lies wholly inside (an empty `o` counts as inside).
  bool contains(const Rect& o) const {
    return o.empty() || (o.x >= x && o.y >= y && o.right() <= right() && o.bottom() <= bottom());
  }
  bool operator==(const Rect&) const = default;
};

struct Size {
  int32_t width = 0;
  int32_t height = 0;
  bool operator==(const Size&) const = default;
};

}  // namespace tessera
