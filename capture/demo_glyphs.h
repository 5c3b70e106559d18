#pragma once
// Text for the demo desktop: a small 5x8 bitmap font in 7x12 cells.
#include <cstdint>
#include <string_view>

#include "core/frame.h"

namespace tessera::demo {

constexpr int kCellWidth = 7;
constexpr int kCellHeight = 12;

// Draws `text` with its first cell's top-left at (x, y); pixels outside `clip` are untouched.
void draw_text(Frame& f, int32_t x, int32_t y, std::string_view text, uint32_t fg, const Rect& clip);

}  // namespace tessera::demo
