#pragma once
// A set of pixels as a list of non-overlapping rectangles; the arithmetic is pixman's.
#include <pixman.h>

#include <vector>

#include "core/rect.h"

namespace tessera {

class Region {
 public:
  Region();
  explicit Region(const Rect& r);
  Region(const Region& o);
  Region(Region&& o) noexcept;
  Region& operator=(const Region& o);
  Region& operator=(Region&& o) noexcept;
  ~Region();

  bool empty() const;
  void clear();
  int64_t area() const;
  Rect bounds() const;
  std::vector<Rect> rects() const;
  size_t rect_count() const;
  bool contains(int32_t x, int32_t y) const;

  Region& add(const Rect& r);
  Region& add(const Region& o);
  Region& subtract(const Region& o);
  Region& intersect(const Rect& r);
  Region& intersect(const Region& o);
  Region& translate(int32_t dx, int32_t dy);

  bool operator==(const Region& o) const;

 private:
  pixman_region32_t r_;
};

}  // namespace tessera
