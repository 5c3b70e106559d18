#include "core/tile_diff.h"

#include <cstring>
#include <stdexcept>

namespace tessera {

TileGrid::TileGrid(Size frame, int32_t tile) : frame_(frame), tile_(tile) {
  if (tile < 1) throw std::invalid_argument("tile size must be positive");
  cols_ = (frame.width + tile - 1) / tile;
  rows_ = (frame.height + tile - 1) / tile;
}

Rect TileGrid::rect(int32_t col, int32_t row) const {
  return Rect{col * tile_, row * tile_, tile_, tile_}.intersect({0, 0, frame_.width, frame_.height});
}

Rect TileGrid::tiles_touching(const Rect& r) const {
  Rect c = r.intersect({0, 0, frame_.width, frame_.height});
  if (c.empty()) return {};
  int32_t c0 = c.x / tile_, r0 = c.y / tile_;
  int32_t c1 = (c.right() - 1) / tile_, r1 = (c.bottom() - 1) / tile_;
  return {c0, r0, c1 - c0 + 1, r1 - r0 + 1};
}

Region TileGrid::region_of(const std::vector<uint8_t>& marked) const {
  Region out;
  for (int32_t r = 0; r < rows_; ++r) {
    int32_t c = 0;
    while (c < cols_) {
      if (!marked[index(c, r)]) {
        ++c;
        continue;
      }
      int32_t start = c;
      while (c < cols_ && marked[index(c, r)]) ++c;
      Rect run{start * tile_, r * tile_, (c - start) * tile_, tile_};
      out.add(run.intersect({0, 0, frame_.width, frame_.height}));
    }
  }
  return out;
}

size_t diff_tiles(const Frame& a, const Frame& b, const TileGrid& grid, const Rect& area,
                  std::vector<uint8_t>& marked) {
  if (a.size() != b.size()) throw std::invalid_argument("diff_tiles: frames differ in size");
  Rect t = grid.tiles_touching(area);
  if (t.empty()) return 0;
  const int32_t ts = grid.tile();
  const int32_t x0 = t.x * ts, x1 = std::min(t.right() * ts, a.width());
  size_t newly = 0;
  for (int32_t tr = t.y; tr < t.bottom(); ++tr) {
    const int32_t y0 = tr * ts, y1 = std::min(y0 + ts, a.height());
    int32_t open = 0;  // tiles of this band not yet marked
    for (int32_t tc = t.x; tc < t.right(); ++tc) open += !marked[grid.index(tc, tr)];
    for (int32_t y = y0; y < y1 && open > 0; ++y) {
      const uint32_t* ra = a.row(y);
      const uint32_t* rb = b.row(y);
      if (std::memcmp(ra + x0, rb + x0, size_t(x1 - x0) * 4) == 0) continue;
      for (int32_t tc = t.x; tc < t.right(); ++tc) {
        uint8_t& m = marked[grid.index(tc, tr)];
        if (m) continue;
        int32_t cx = tc * ts, cw = std::min(ts, a.width() - cx);
        if (std::memcmp(ra + cx, rb + cx, size_t(cw) * 4) != 0) {
          m = 1;
          ++newly;
          --open;
        }
      }
    }
  }
  return newly;
}

}  // namespace tessera
