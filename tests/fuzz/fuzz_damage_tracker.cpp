// libFuzzer: for any sequence of small frames (the input paints rectangles, shifts blocks and
// resizes), a viewer that applies each reported change (moves, then damage) shows exactly
// the newest frame. This is the tracker's contract, whatever the content.
#include <cstdint>
#include <cstring>
#include <memory>

#include "core/damage_tracker.h"

using namespace tessera;

namespace {

struct Reader {
  const uint8_t* d;
  size_t n, i = 0;
  uint8_t next() { return i < n ? d[i++] : 0; }
  bool done() const { return i >= n; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader in{data, size};
  DamageTrackerConfig cfg;
  cfg.tile_size = 8 + (in.next() % 4) * 8;
  cfg.min_scroll_rows = 4 + in.next() % 12;
  cfg.full_scan_interval = 1 + in.next() % 4;
  DamageTracker tracker(cfg);
  int32_t w = 16 + in.next() % 96, h = 16 + in.next() % 96;
  auto frame = std::make_shared<Frame>(w, h);
  Frame view;
  auto now = std::chrono::steady_clock::time_point{};
  for (int step = 0; step < 24 && !in.done(); ++step) {
    auto next = std::make_shared<Frame>(*frame);
    Region hints;
    int ops = 1 + in.next() % 4;
    for (int k = 0; k < ops; ++k) {
      uint8_t op = in.next() % 8;
      Rect r{in.next() % w, in.next() % h, 1 + in.next() % w, 1 + in.next() % h};
      r = r.intersect(next->bounds());
      if (op == 7) {  // resize
        w = 1 + in.next() % 128;
        h = 1 + in.next() % 128;
        next = std::make_shared<Frame>(w, h);
        hints.add(next->bounds());  // all new content, even when the size stays the same
        break;
      }
      if (op >= 4) {  // shift a block, as a scroll or a drag would
        int32_t dx = int32_t(in.next() % 17) - 8, dy = int32_t(in.next() % 17) - 8;
        Frame before = *next;
        for (int32_t y = r.y; y < r.bottom(); ++y)
          for (int32_t x = r.x; x < r.right(); ++x)
            if (before.bounds().contains(x - dx, y - dy)) next->set_pixel(x, y, before.pixel(x - dx, y - dy));
      } else {
        uint32_t colour = bgrx(in.next(), in.next(), in.next());
        for (int32_t y = r.y; y < r.bottom(); ++y)
          for (int32_t x = r.x; x < r.right(); ++x) next->set_pixel(x, y, op == 0 ? colour : colour ^ uint32_t(x * y));
      }
      hints.add(r);
    }
    bool honest = in.next() % 4 != 0;  // sometimes the hints lie
    FrameChange c = tracker.update(next, honest ? &hints : nullptr, now);
    now += std::chrono::milliseconds(33);
    if (view.size() != next->size()) view = Frame(next->width(), next->height());
    for (const Move& m : c.moves) {
      if (m.dst.intersect(view.bounds()) != m.dst || m.src().intersect(view.bounds()) != m.src()) __builtin_trap();
      Frame before = view;
      for (int32_t y = 0; y < m.dst.height; ++y)
        std::memcpy(view.row(m.dst.y + y) + m.dst.x, before.row(m.src_y + y) + m.src_x, size_t(m.dst.width) * 4);
    }
    for (const Rect& r : c.damage.rects()) view.copy_from(*next, r);
    // With honest hints or a full scan, the viewer is exact now.
    if (honest && !view.same_pixels(*next, next->bounds())) __builtin_trap();
    frame = next;
  }
  return 0;
}
