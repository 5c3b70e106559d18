#include "core/cursor.h"

namespace tessera {

std::shared_ptr<const CursorImage> default_arrow_cursor() {
  static const std::shared_ptr<const CursorImage> arrow = [] {
    auto c = std::make_shared<CursorImage>();
    c->width = 12;
    c->height = 19;
    c->serial = 1;
    c->argb.assign(size_t(c->width * c->height), 0);
    // A classic left-leaning arrow: black outline, white fill, stem at the bottom.
    for (int y = 0; y < 19; ++y) {
      int span = y < 12 ? y + 1 : 0;
      for (int x = 0; x < span && x < 12; ++x) {
        bool edge = x == 0 || x == span - 1 || y == 11;
        c->argb[size_t(y * 12 + x)] = edge ? 0xFF000000u : 0xFFFFFFFFu;
      }
    }
    for (int y = 12; y < 19; ++y)
      for (int x = 4; x < 8; ++x) {
        bool edge = x == 4 || x == 7 || y == 18;
        c->argb[size_t(y * 12 + x)] = edge ? 0xFF000000u : 0xFFFFFFFFu;
      }
    return c;
  }();
  return arrow;
}

}  // namespace tessera
