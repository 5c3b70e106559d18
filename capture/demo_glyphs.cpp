#include "capture/demo_glyphs.h"

#include <array>

namespace tessera::demo {

namespace {

// 7 rows of 5 bits per printable ASCII character.
using Glyph = std::array<uint8_t, 7>;

Glyph make_glyph(unsigned char c) {
  Glyph g{};
  if (c <= ' ' || c > '~') return g;
  uint64_t h = 0x9E3779B97F4A7C15ull * (c + 1);
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ull;
  h ^= h >> 32;
  for (int r = 0; r < 7; ++r) {
    uint8_t bits = uint8_t((h >> (r * 5)) & 0x1F);
    // Keep strokes connected and letter-like: a vertical stem on one side most of the time.
    if ((h >> 40) & 1) bits |= 0x10; else bits |= 0x01;
    g[size_t(r)] = bits;
  }
  if (c == '.' || c == ',') g = {0, 0, 0, 0, 0, 0x04, 0x04};
  if (c == '-') g = {0, 0, 0, 0x1F, 0, 0, 0};
  if (c == '_') g = {0, 0, 0, 0, 0, 0, 0x1F};
  if (c == ':') g = {0, 0x04, 0, 0, 0x04, 0, 0};
  if (c == '/') g = {0x01, 0x02, 0x02, 0x04, 0x08, 0x08, 0x10};
  if (c == '$') g = {0x04, 0x0F, 0x14, 0x0E, 0x05, 0x1E, 0x04};
  return g;
}

const std::array<Glyph, 128>& glyphs() {
  static const std::array<Glyph, 128> table = [] {
    std::array<Glyph, 128> t{};
    for (int c = 0; c < 128; ++c) t[size_t(c)] = make_glyph(static_cast<unsigned char>(c));
    return t;
  }();
  return table;
}

}  // namespace

void draw_text(Frame& f, int32_t x, int32_t y, std::string_view text, uint32_t fg, const Rect& clip) {
  Rect c = clip.intersect(f.bounds());
  for (unsigned char ch : text) {
    const Glyph& g = glyphs()[ch & 0x7F];
    for (int r = 0; r < 7; ++r) {
      int32_t py = y + 2 + r;
      if (py < c.y || py >= c.bottom()) continue;
      uint32_t* row = f.row(py);
      for (int b = 0; b < 5; ++b) {
        int32_t px = x + 1 + b;
        if (px >= c.x && px < c.right() && (g[size_t(r)] >> (4 - b) & 1)) row[px] = fg;
      }
    }
    x += kCellWidth;
    if (x >= c.right()) break;
  }
}

}  // namespace tessera::demo
