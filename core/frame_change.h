#pragma once
// What changed between two frames, in the order a viewer applies it: first the moves (content
// that shifted, e.g. a scrolled terminal), then the damaged pixels painted from the new frame.
#include <vector>

#include "core/region.h"

namespace tessera {

// Copy the previous frame's pixels at `src` (top-left) to `dst`.
struct Move {
  Rect dst;
  int32_t src_x = 0;
  int32_t src_y = 0;
  Rect src() const { return {src_x, src_y, dst.width, dst.height}; }
  bool operator==(const Move&) const = default;
};

struct FrameChange {
  std::vector<Move> moves;
  Region damage;   // to paint from the new frame after the moves
  Region motion;   // part of `damage` that changes at a sustained rate (video, animation)
  Region refresh;  // was motion, now still: repaint losslessly (already inside `damage`)
  // Every tile classified as motion now, changed this frame or not: where video streams live.
  Region motion_area;
};

}  // namespace tessera
