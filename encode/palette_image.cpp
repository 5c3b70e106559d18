#include "encode/palette_image.h"

#include <algorithm>
#include <unordered_map>

namespace tessera {

std::optional<PaletteImage> palette_image(const Frame& f, const Rect& r, size_t max_colours) {
  max_colours = std::min<size_t>(max_colours, 256);
  PaletteImage img;
  std::unordered_map<uint32_t, uint8_t> index;
  index.reserve(64);
  // Colours first (stop at one too many), so the bit depth is known before packing.
  uint32_t last = 0xFFFFFFFFu;
  for (int32_t y = r.y; y < r.bottom(); ++y) {
    const uint32_t* p = f.row(y) + r.x;
    for (int32_t x = 0; x < r.width; ++x) {
      uint32_t c = p[x] & 0xFFFFFFu;
      if (c == last) continue;
      last = c;
      if (index.count(c)) continue;
      if (img.colours.size() == max_colours) return std::nullopt;
      index.emplace(c, uint8_t(img.colours.size()));
      img.colours.push_back(c);
    }
  }
  img.bits = img.colours.size() <= 2 ? 1 : img.colours.size() <= 16 ? 4 : 8;
  img.stride = uint32_t((size_t(r.width) * size_t(img.bits) + 7) / 8);
  img.indices.assign(size_t(img.stride) * size_t(r.height), 0);
  const int per_byte = 8 / img.bits;
  for (int32_t y = 0; y < r.height; ++y) {
    const uint32_t* p = f.row(r.y + y) + r.x;
    uint8_t* row = img.indices.data() + size_t(y) * img.stride;
    uint32_t prev = 0xFFFFFFFFu;
    uint8_t prev_i = 0;
    for (int32_t x = 0; x < r.width; ++x) {
      uint32_t c = p[x] & 0xFFFFFFu;
      uint8_t i = c == prev ? prev_i : index.at(c);
      prev = c;
      prev_i = i;
      int slot = x % per_byte;  // 0 = leftmost = most significant bits
      row[x / per_byte] |= uint8_t(i << (8 - img.bits * (slot + 1)));
    }
  }
  return img;
}

}  // namespace tessera
