#pragma once
// An independent check of what the encoders produce: FFmpeg's own decoders turn a compressed
// frame back into BGRX, honouring the colour matrix and range the bitstream signals. Used by
// the tests and the benchmarks, never by the server.
#include <memory>
#include <optional>
#include <span>

#include "core/frame.h"
#include "encode/video_codec.h"

namespace tessera {

class FfmpegDecoder {
 public:
  explicit FfmpegDecoder(VideoCodec codec);
  ~FfmpegDecoder();
  FfmpegDecoder(const FfmpegDecoder&) = delete;
  FfmpegDecoder& operator=(const FfmpegDecoder&) = delete;

  // Decodes one frame; nullopt when the decoder held it back (it never should for our
  // low-latency streams). Throws std::runtime_error on corrupt data.
  std::optional<Frame> decode(std::span<const uint8_t> data);
  // Frames the decoder would still give out at end of stream (0 for a no-delay stream).
  int flush();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera
