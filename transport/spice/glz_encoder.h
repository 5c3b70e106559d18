#pragma once
// SPICE's GLZ image codec (SPICE_IMAGE_TYPE_GLZ_RGB), the encoding side. GLZ is an LZ77 over
// pixels whose matches may point into earlier images: client and server keep the same window
// of recent images (as many pixels as the client announced in DISPLAY_INIT), so text, icons and
// page content that appeared before cost a few bytes when they appear again. Each image names
// the oldest one still in the window, so the client drops the rest in step with us.
//
// Stream (all numbers big-endian): "  ZL", version 1.1, type RGB32 with the top-down bit, width,
// height, stride, the image's id (ids count up from 0 per session), the distance back to the
// oldest image kept; then control bytes: c < 32 starts c + 1 literal pixels (B, G, R), c >= 32
// is a match of c >> 5 pixels (7: more length bytes follow, 255 means more) with an offset of
// 12 bits (another image: its first pixel is 0; this image: back from here, minus one) and a
// distance in images, or the long form (bit 4) for offsets of up to 25 bits.
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "core/frame.h"

namespace tessera::spice {

class GlzEncoder {
 public:
  // `window_pixels` from the client's DISPLAY_INIT; 0 disables GLZ.
  explicit GlzEncoder(int64_t window_pixels);

  bool enabled() const { return capacity_ > 0; }
  // Encodes `r` of `f` as the next image, without touching the window yet; nullopt when it
  // cannot go as GLZ (larger than the window). commit() then makes it part of the window (call
  // it only if the stream is sent, right after: the client adds every image it decodes).
  // Also nullopt once the stream would reach `max_bytes` (the caller has something smaller).
  std::optional<std::vector<uint8_t>> encode(const Frame& f, const Rect& r, size_t max_bytes = SIZE_MAX);
  void commit();

  uint64_t images() const { return next_id_; }
  int64_t window_pixels() const { return window_pixels_; }
  size_t window_images() const { return window_.size(); }

 private:
  struct Image {
    uint64_t id;
    std::vector<uint32_t> px;  // BGR with the X byte cleared, rows packed
  };
  struct Slot {
    uint64_t image = ~uint64_t(0);  // none
    uint32_t offset = 0;
  };
  static uint32_t hash3(const uint32_t* p);
  const Image* image(uint64_t id) const;
  void emit_literals(const uint32_t* p, size_t n);
  void emit_match(size_t len, uint64_t image_dist, uint32_t offset);

  int64_t capacity_;
  int64_t window_pixels_ = 0;
  uint64_t next_id_ = 0;
  std::deque<Image> window_;
  std::vector<Slot> table_;        // positions in committed images, by hash of three pixels
  std::vector<uint32_t> local_;    // positions in the image being encoded (offset + 1; 0: none)
  // The encoded image waiting for commit().
  Image pending_;
  std::vector<uint32_t> pending_hashes_;
  uint64_t evict_to_ = 0;          // the oldest id the pending image keeps
  std::vector<uint8_t> out_;
};

}  // namespace tessera::spice
