#pragma once
// The video codecs Tessera can stream, independent of any protocol's numbering.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tessera {

enum class VideoCodec { h264, h265, vp9, vp8, mjpeg };

inline constexpr VideoCodec kAllVideoCodecs[] = {VideoCodec::h264, VideoCodec::h265, VideoCodec::vp9,
                                                 VideoCodec::vp8, VideoCodec::mjpeg};

std::string_view to_string(VideoCodec c);
std::optional<VideoCodec> parse_video_codec(std::string_view name);
// A comma-separated list such as "h264,vp9"; throws std::invalid_argument on an unknown name.
std::vector<VideoCodec> parse_video_codec_list(std::string_view list);

enum class EncoderBackend { ffmpeg, gstreamer };
std::string_view to_string(EncoderBackend b);
std::optional<EncoderBackend> parse_encoder_backend(std::string_view name);

}  // namespace tessera
