#pragma once
// Lossless compression of a frame rectangle with LZ4, as a chain of blocks that share one
// dictionary (later blocks may refer to earlier ones), rows packed at width * 4 bytes.
#include <cstdint>
#include <cstddef>
#include <functional>
#include <span>
#include <vector>

#include "core/frame.h"

namespace tessera {

// Copies `r` (which must lie inside the frame) out as packed BGRX rows.
void pack_rect(const Frame& f, const Rect& r, std::vector<uint8_t>& out);

class Lz4ImageEncoder {
 public:
  using BlockSink = std::function<void(std::span<const uint8_t> block)>;
  explicit Lz4ImageEncoder(int rows_per_block = 64) : rows_per_block_(rows_per_block) {}
  // Calls `sink` once per compressed block, in order. Returns the compressed byte count. Stops
  // after the block that reaches `limit` bytes (the caller has something smaller already).
  size_t encode(const Frame& f, const Rect& r, const BlockSink& sink, size_t limit = SIZE_MAX);

 private:
  int rows_per_block_;
  std::vector<uint8_t> packed_;
  std::vector<uint8_t> block_;
};

}  // namespace tessera
