#pragma once
// Draws what the damage tracker decided over a frame, for people: motion tinted red, static
// changes outlined green, moves (scrolls) outlined blue, repaints after motion outlined yellow.
#include "core/frame.h"
#include "core/frame_change.h"

namespace tessera {

void draw_overlay(Frame& f, const FrameChange& change, const Region& motion_area);

}  // namespace tessera
