#pragma once
// Finds which tiles of a frame differ from another frame of the same size. Rows are compared
// whole first (memcmp speed when nothing changed); only rows that differ are split into tiles.
#include <cstdint>
#include <vector>

#include "core/frame.h"
#include "core/region.h"

namespace tessera {

class TileGrid {
 public:
  TileGrid() = default;
  TileGrid(Size frame, int32_t tile);
  Size frame() const { return frame_; }
  int32_t tile() const { return tile_; }
  int32_t cols() const { return cols_; }
  int32_t rows() const { return rows_; }
  size_t count() const { return size_t(cols_) * size_t(rows_); }
  size_t index(int32_t col, int32_t row) const { return size_t(row) * size_t(cols_) + size_t(col); }
  // The tile's pixels, clipped to the frame.
  Rect rect(int32_t col, int32_t row) const;
  Rect rect(size_t index) const { return rect(int32_t(index % size_t(cols_)), int32_t(index / size_t(cols_))); }
  // The tiles that `r` touches, as a rectangle of tile coordinates.
  Rect tiles_touching(const Rect& r) const;
  // Union of the marked tiles, clipped to the frame (pixman merges neighbours).
  Region region_of(const std::vector<uint8_t>& marked) const;

 private:
  Size frame_{};
  int32_t tile_ = 32;
  int32_t cols_ = 0;
  int32_t rows_ = 0;
};

// Marks (sets to 1) every tile that touches `area` and holds a pixel where `a` and `b` differ.
// Tiles already marked are not compared again. Both frames must have the grid's size.
// Returns the number of tiles newly marked.
size_t diff_tiles(const Frame& a, const Frame& b, const TileGrid& grid, const Rect& area,
                  std::vector<uint8_t>& marked);

}  // namespace tessera
