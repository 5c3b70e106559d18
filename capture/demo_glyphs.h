#pragma once
// Text for the demo desktop. Glyphs are generated, not a real font: each character gets a
// fixed 5x7 pattern, enough to look and compress like text without shipping font data.
#include <cstdint>
#include <string_view>

#include "core/frame.h"

namespace tessera::demo {

constexpr int kCellWidth = 7;
constexpr int kCellHeight = 12;

// Draws `text` with its first cell's top-left at (x, y); pixels outside `clip` are untouched.
void draw_text(Frame& f, int32_t x, int32_t y, std::string_view text, uint32_t fg, const Rect& clip);

}  // namespace tessera::demo
