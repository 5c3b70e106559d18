#pragma once
// Where video encoders should look: the connected parts of a motion region as boxes, and a box
// with its sparse edges cut off. Shared by SPICE streams and VNC's H.264 rects.
#include <vector>

#include "core/region.h"

namespace tessera {

// Bounding boxes of the connected parts of `motion`, grown to even coordinates inside `bounds`.
std::vector<Rect> motion_boxes(const Region& motion, const Rect& bounds);
// `box` with sparse edges cut off (32-pixel strips, the sparsest first, while less than half
// motion): a thin pointer trail joined to a video must not pull text into the stream.
Rect trim_sparse_edges(Rect box, const Region& motion);

}  // namespace tessera
