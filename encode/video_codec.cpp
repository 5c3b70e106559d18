#include "encode/video_codec.h"

#include <stdexcept>

namespace tessera {

std::string_view to_string(VideoCodec c) {
  switch (c) {
    case VideoCodec::h264: return "h264";
    case VideoCodec::h265: return "h265";
    case VideoCodec::vp9: return "vp9";
    case VideoCodec::vp8: return "vp8";
    case VideoCodec::mjpeg: return "mjpeg";
  }
  return "?";
}

std::optional<VideoCodec> parse_video_codec(std::string_view name) {
  for (VideoCodec c : kAllVideoCodecs)
    if (to_string(c) == name) return c;
  if (name == "hevc") return VideoCodec::h265;
  return std::nullopt;
}

std::vector<VideoCodec> parse_video_codec_list(std::string_view list) {
  std::vector<VideoCodec> out;
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    if (item.empty()) continue;
    auto c = parse_video_codec(item);
    if (!c) throw std::invalid_argument("unknown video codec '" + std::string(item) + "' (h264, h265, vp9, vp8, mjpeg)");
    bool dup = false;
    for (VideoCodec have : out) dup |= have == *c;
    if (!dup) out.push_back(*c);
  }
  return out;
}

std::string_view to_string(EncoderBackend b) { return b == EncoderBackend::ffmpeg ? "ffmpeg" : "gstreamer"; }

std::optional<EncoderBackend> parse_encoder_backend(std::string_view name) {
  if (name == "ffmpeg") return EncoderBackend::ffmpeg;
  if (name == "gstreamer") return EncoderBackend::gstreamer;
  return std::nullopt;
}

}  // namespace tessera
