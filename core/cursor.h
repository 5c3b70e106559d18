#pragma once
// The pointer as a source reports it: shape (straight ARGB, 0xAARRGGBB), hotspot and position.
#include <cstdint>
#include <memory>
#include <vector>

namespace tessera {

struct CursorImage {
  int32_t width = 0;
  int32_t height = 0;
  int32_t hot_x = 0;
  int32_t hot_y = 0;
  std::vector<uint32_t> argb;  // width * height pixels, row-major
  uint64_t serial = 0;         // changes whenever the shape changes
};

struct CursorState {
  std::shared_ptr<const CursorImage> image;  // null: the source has no cursor of its own
  int32_t x = 0;
  int32_t y = 0;
  bool visible = false;
};

// A plain arrow, for sources that have no pointer shape of their own.
std::shared_ptr<const CursorImage> default_arrow_cursor();

}  // namespace tessera
