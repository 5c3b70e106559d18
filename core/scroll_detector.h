#pragma once
// Recognises content that moved vertically between two frames (a terminal or a page that
// scrolled), so that a viewer can copy it instead of receiving it again.
#include <optional>

#include "core/frame.h"
#include "core/frame_change.h"

namespace tessera {

// The smallest box inside `area` that holds every pixel where the frames differ (empty if none).
Rect changed_bounds(const Frame& prev, const Frame& cur, const Rect& area);

// Looks inside `area` for rows of `prev` that reappear in `cur` shifted up or down. Returns the
// largest run of at least `min_rows` rows that matches exactly (verified pixel by pixel), as a
// move of that run, or nullopt. Rows of one flat colour do not vote for a shift, since they
// match anywhere.
std::optional<Move> find_vertical_scroll(const Frame& prev, const Frame& cur, const Rect& area, int32_t min_rows);

// Looks inside `area` for a block of `prev` that reappears in `cur` shifted in any direction (a
// dragged window). Distinctive 16-pixel segments of `cur` are searched for in `prev`; the most
// common offset wins and is grown into the largest exactly matching rectangle around a segment.
// Returns it if it is at least min_width x min_height.
std::optional<Move> find_moved_block(const Frame& prev, const Frame& cur, const Rect& area, int32_t min_width,
                                     int32_t min_height);

// Grows a verified move while the pixels around it still match at its offset, then trims it to
// the box of the pixels in it that differ between the frames (flat content beside a window
// matches at any offset and needs no copy). A dragged window whose flat parts split its changes
// into separate places (its far edge apart from its text) becomes one move with its edges.
Move extend_move(const Frame& prev, const Frame& cur, const Move& m);

}  // namespace tessera
