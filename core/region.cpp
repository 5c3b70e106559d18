#include "core/region.h"

namespace tessera {

Region::Region() { pixman_region32_init(&r_); }
Region::Region(const Rect& r) {
  if (r.empty())
    pixman_region32_init(&r_);
  else
    pixman_region32_init_rect(&r_, r.x, r.y, unsigned(r.width), unsigned(r.height));
}
Region::Region(const Region& o) {
  pixman_region32_init(&r_);
  pixman_region32_copy(&r_, const_cast<pixman_region32_t*>(&o.r_));
}
Region::Region(Region&& o) noexcept : Region() { pixman_region32_copy(&r_, &o.r_); }
Region& Region::operator=(const Region& o) {
  if (this != &o) pixman_region32_copy(&r_, const_cast<pixman_region32_t*>(&o.r_));
  return *this;
}
Region& Region::operator=(Region&& o) noexcept {
  if (this != &o) pixman_region32_copy(&r_, &o.r_);
  return *this;
}
Region::~Region() { pixman_region32_fini(&r_); }

bool Region::empty() const { return !pixman_region32_not_empty(const_cast<pixman_region32_t*>(&r_)); }
void Region::clear() { pixman_region32_clear(&r_); }

int64_t Region::area() const {
  int64_t a = 0;
  for (const Rect& r : rects()) a += r.area();
  return a;
}

Rect Region::bounds() const {
  if (empty()) return {};
  const pixman_box32_t* b = pixman_region32_extents(const_cast<pixman_region32_t*>(&r_));
  return {b->x1, b->y1, b->x2 - b->x1, b->y2 - b->y1};
}

std::vector<Rect> Region::rects() const {
  int n = 0;
  const pixman_box32_t* b = pixman_region32_rectangles(const_cast<pixman_region32_t*>(&r_), &n);
  std::vector<Rect> out;
  out.reserve(size_t(n));
  for (int i = 0; i < n; ++i) out.push_back({b[i].x1, b[i].y1, b[i].x2 - b[i].x1, b[i].y2 - b[i].y1});
  return out;
}

size_t Region::rect_count() const {
  return size_t(pixman_region32_n_rects(const_cast<pixman_region32_t*>(&r_)));
}

bool Region::contains(int32_t x, int32_t y) const {
  return pixman_region32_contains_point(const_cast<pixman_region32_t*>(&r_), x, y, nullptr);
}

Region& Region::add(const Rect& r) {
  if (!r.empty()) pixman_region32_union_rect(&r_, &r_, r.x, r.y, unsigned(r.width), unsigned(r.height));
  return *this;
}
Region& Region::add(const Region& o) {
  pixman_region32_union(&r_, &r_, const_cast<pixman_region32_t*>(&o.r_));
  return *this;
}
Region& Region::subtract(const Region& o) {
  pixman_region32_subtract(&r_, &r_, const_cast<pixman_region32_t*>(&o.r_));
  return *this;
}
Region& Region::intersect(const Rect& r) {
  if (r.empty()) {
    clear();
    return *this;
  }
  pixman_region32_intersect_rect(&r_, &r_, r.x, r.y, unsigned(r.width), unsigned(r.height));
  return *this;
}
Region& Region::intersect(const Region& o) {
  pixman_region32_intersect(&r_, &r_, const_cast<pixman_region32_t*>(&o.r_));
  return *this;
}
Region& Region::translate(int32_t dx, int32_t dy) {
  pixman_region32_translate(&r_, dx, dy);
  return *this;
}

bool Region::operator==(const Region& o) const {
  return pixman_region32_equal(const_cast<pixman_region32_t*>(&r_), const_cast<pixman_region32_t*>(&o.r_));
}

}  // namespace tessera
