#include "core/motion_boxes.h"

#include <algorithm>
#include <cstddef>

namespace tessera {

namespace {
bool touches(const Rect& a, const Rect& b) {
  return a.x <= b.right() && b.x <= a.right() && a.y <= b.bottom() && b.y <= a.bottom();
}
}  // namespace

std::vector<Rect> motion_boxes(const Region& motion, const Rect& bounds) {
  std::vector<Rect> boxes = motion.rects();
  // Merge touching boxes until none touch: connected parts become one box each.
  for (bool merged = true; merged;) {
    merged = false;
    for (size_t i = 0; i < boxes.size() && !merged; ++i)
      for (size_t j = i + 1; j < boxes.size(); ++j)
        if (touches(boxes[i], boxes[j])) {
          boxes[i] = boxes[i].united(boxes[j]);
          boxes.erase(boxes.begin() + std::ptrdiff_t(j));
          merged = true;
          break;
        }
  }
  // 4:2:0 pictures need even sizes and offsets.
  std::vector<Rect> out;
  const int32_t max_x = bounds.right() & ~1, max_y = bounds.bottom() & ~1;
  for (const Rect& b : boxes) {
    int32_t x0 = std::max(b.x, bounds.x) & ~1, y0 = std::max(b.y, bounds.y) & ~1;
    int32_t x1 = std::min((b.right() + 1) & ~1, max_x), y1 = std::min((b.bottom() + 1) & ~1, max_y);
    if (x1 - x0 >= 2 && y1 - y0 >= 2) out.push_back({x0, y0, x1 - x0, y1 - y0});
  }
  return out;
}

Rect trim_sparse_edges(Rect box, const Region& motion) {
  constexpr int32_t kStrip = 32;
  auto covered = [&](const Rect& r) {
    Region m(r);
    m.intersect(motion);
    return m.area();
  };
  for (int guard = 0; guard < 256; ++guard) {
    if (box.width <= 2 * kStrip || box.height <= 2 * kStrip) break;
    const Rect strips[4] = {{box.x, box.y, kStrip, box.height},
                            {box.right() - kStrip, box.y, kStrip, box.height},
                            {box.x, box.y, box.width, kStrip},
                            {box.x, box.bottom() - kStrip, box.width, kStrip}};
    int best = 0;
    double best_fill = 2;
    for (int i = 0; i < 4; ++i) {
      double fill = double(covered(strips[i])) / double(strips[i].area());
      if (fill < best_fill) {
        best_fill = fill;
        best = i;
      }
    }
    if (best_fill >= 0.5) break;  // every edge is mostly motion
    if (best == 0) box = {box.x + kStrip, box.y, box.width - kStrip, box.height};
    if (best == 1) box.width -= kStrip;
    if (best == 2) box = {box.x, box.y + kStrip, box.width, box.height - kStrip};
    if (best == 3) box.height -= kStrip;
  }
  return box;
}

}  // namespace tessera
