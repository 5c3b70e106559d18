#pragma once
// Tells pictures (photos, video) from text and UI by a tile's colours: text and UI sit on a flat
// background with few colours; a picture has many and none covers much of it.
#include "core/frame.h"

namespace tessera {

// More than `min_colours` distinct colours in `area` and none covering 30 % of it or more.
// Stops counting at 256 colours. Cost: one pass over the area.
bool looks_pictorial(const Frame& f, const Rect& area, int min_colours = 32);

}  // namespace tessera
