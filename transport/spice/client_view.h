#pragma once
// What a SPICE client shows, rebuilt from the display messages Tessera sends: the surface,
// COPY_BITS, DRAW_FILL (solid), DRAW_COPY (32-bit and palette bitmaps, LZ4, the pixmap cache
// with INVAL_LIST / INVAL_ALL_PIXMAPS) and video streams, decoded by FFmpeg's own decoders. A
// reference to an image the cache does not hold throws: a real client would freeze there.
// The bench and the tests compare this picture with the source frame, so quality is measured
// on what a client would see. Never used by the server. Malformed or unexpected messages
// (formats the server never sends) throw std::runtime_error.
#include <cstdint>
#include <map>
#include <memory>
#include <span>

#include "core/frame.h"
#include "core/region.h"
#include "encode/ffmpeg_decoder.h"
#include "encode/video_codec.h"

namespace tessera::spice {

class ClientView {
 public:
  void apply(uint16_t type, std::span<const uint8_t> body);
  const Frame& surface() const { return surface_; }
  bool has_surface() const { return created_; }
  // The union of the live streams' destinations: where the client shows video.
  Region streams_area() const;
  size_t live_streams() const { return streams_.size(); }
  uint64_t decoded_frames() const { return decoded_; }
  struct Counters {
    uint64_t draws = 0, lz4_draws = 0, bitmap_draws = 0, palette_draws = 0, fills = 0, copies = 0;
    uint64_t cache_hits = 0, glz_draws = 0;
  };
  const Counters& counters() const { return counted_; }

 private:
  struct Stream {
    VideoCodec codec;
    Rect dest;
    std::unique_ptr<FfmpegDecoder> decoder;
  };
  void draw_copy(std::span<const uint8_t> body);
  void stream_frame(uint32_t id, const Rect* sized_dest, std::span<const uint8_t> data);

  Frame surface_;
  bool created_ = false;
  std::map<uint32_t, Stream> streams_;
  uint64_t decoded_ = 0;
  Counters counted_;
  std::vector<uint8_t> pixels_;
  std::map<uint64_t, std::vector<uint8_t>> cache_;  // the pixmap cache: id -> packed BGRX rows
  std::map<uint64_t, std::vector<uint32_t>> glz_window_;  // GLZ images by their stream id
  void decode_glz(std::span<const uint8_t> stream, int32_t w, int32_t h);
  int64_t cache_pixels_ = 0;

 public:
  size_t cached_images() const { return cache_.size(); }
  int64_t cached_pixels() const { return cache_pixels_; }
};

}  // namespace tessera::spice
