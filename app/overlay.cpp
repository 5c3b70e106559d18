#include "app/overlay.h"

namespace tessera {

namespace {

void outline(Frame& f, const Rect& r, uint32_t colour) {
  Rect c = r.intersect(f.bounds());
  if (c.empty()) return;
  f.fill({c.x, c.y, c.width, 1}, colour);
  f.fill({c.x, c.bottom() - 1, c.width, 1}, colour);
  f.fill({c.x, c.y, 1, c.height}, colour);
  f.fill({c.right() - 1, c.y, 1, c.height}, colour);
}

void tint(Frame& f, const Rect& r, uint8_t red, uint8_t green, uint8_t blue) {
  Rect c = r.intersect(f.bounds());
  for (int32_t y = c.y; y < c.bottom(); ++y)
    for (int32_t x = c.x; x < c.right(); ++x) {
      uint32_t p = f.pixel(x, y);
      auto mix = [](uint32_t v, uint8_t t) { return uint8_t((v * 3 + t * 2) / 5); };
      f.set_pixel(x, y, bgrx(mix(p >> 16 & 0xFF, red), mix(p >> 8 & 0xFF, green), mix(p & 0xFF, blue)));
    }
}

}  // namespace

void draw_overlay(Frame& f, const FrameChange& change, const Region& motion_area) {
  for (const Rect& r : motion_area.rects()) tint(f, r, 0xFF, 0x20, 0x20);
  Region still = change.damage;
  still.subtract(motion_area);
  for (const Rect& r : still.rects()) outline(f, r, bgrx(0x20, 0xFF, 0x20));
  for (const Rect& r : change.refresh.rects()) outline(f, r, bgrx(0xFF, 0xE0, 0x20));
  for (const Move& m : change.moves) {
    outline(f, m.dst, bgrx(0x30, 0x80, 0xFF));
    outline(f, {m.dst.x + 1, m.dst.y + 1, m.dst.width - 2, m.dst.height - 2}, bgrx(0x30, 0x80, 0xFF));
  }
}

}  // namespace tessera
