#include "core/tile_content.h"

#include <array>

namespace tessera {

bool looks_pictorial(const Frame& f, const Rect& area, int min_colours) {
  Rect a = area.intersect(f.bounds());
  if (a.empty()) return false;
  // Open addressing over 512 slots holds the 256 colours counted at most (never full, so probes end).
  constexpr size_t kSlots = 512;
  std::array<uint32_t, kSlots> colour{};
  std::array<uint32_t, kSlots> count{};
  int distinct = 0;
  uint32_t top = 0;
  const int64_t pixels = a.area();
  for (int32_t y = a.y; y < a.bottom(); ++y) {
    const uint32_t* row = f.row(y);
    for (int32_t x = a.x; x < a.right(); ++x) {
      uint32_t c = row[x] & 0xffffffu;  // the padding byte is not colour
      size_t h = size_t((c * 0x9e3779b1u) >> 23) & (kSlots - 1);
      while (count[h] && colour[h] != c) h = (h + 1) & (kSlots - 1);
      if (!count[h]) {
        if (distinct == 256) continue;  // enough colours: only the top one's share is left to find
        colour[h] = c;
        ++distinct;
      }
      if (++count[h] > top) top = count[h];
    }
  }
  return distinct > min_colours && uint64_t(top) * 100 < uint64_t(pixels) * 30;
}

}  // namespace tessera
