#pragma once
// Uniform areas of a rectangle, found so they can go as solid fills instead of images: the
// rectangle is cut into horizontal bands, and a run of rows that all hold one colour becomes a
// solid band. Cheap (one pass over the pixels) and protocol-free.
#include <cstdint>
#include <optional>
#include <vector>

#include "core/frame.h"

namespace tessera {

struct Band {
  Rect rect;
  std::optional<uint32_t> solid;  // the colour (BGRX) when every pixel of the band has it
};

// Bands covering `r` top to bottom. A solid band needs at least `min_rows` rows, unless it is
// the whole rectangle; smaller uniform runs stay inside the image bands around them.
std::vector<Band> uniform_bands(const Frame& f, const Rect& r, int32_t min_rows = 8);

}  // namespace tessera
