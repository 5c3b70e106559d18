#pragma once
// A rectangle of few colours as palette indices: 1 bit a pixel for two colours, 4 for up to 16,
// 8 for up to 256, rows padded to whole bytes, the leftmost pixel in the most significant bits
// (SPICE's 1BIT_BE / 4BIT_BE / 8BIT bitmaps). Text and flat UI have few colours; for them this
// is 8 to 32 times smaller than 32-bit pixels before any compression.
#include <cstdint>
#include <optional>
#include <vector>

#include "core/frame.h"

namespace tessera {

struct PaletteImage {
  int bits = 8;                  // 1, 4 or 8
  std::vector<uint32_t> colours;  // BGRX with X = 0, index order
  uint32_t stride = 0;           // bytes a row
  std::vector<uint8_t> indices;  // stride * height bytes
  size_t bytes() const { return indices.size() + colours.size() * 4; }
};

// nullopt when `r` holds more than `max_colours` colours (at most 256).
std::optional<PaletteImage> palette_image(const Frame& f, const Rect& r, size_t max_colours = 256);

}  // namespace tessera
