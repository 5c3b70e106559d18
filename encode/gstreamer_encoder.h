#pragma once
// Video encoders run through GStreamer: appsrc ! <encoder element> ! appsink, one pipeline per
// stream, fed one picture at a time. Elements: x264enc, x265enc, openh264enc, vp8enc, vp9enc,
// jpegenc, and the hardware ones (nvh264enc, vah264enc, vaapih264enc, qsvh264enc ...).
#include <memory>
#include <string>

#include "encode/video_encoder.h"

namespace tessera {

// Throws EncoderError with the reason when the element is not installed (hardware plugins
// only register their elements when a device is present), or it fails to start.
std::unique_ptr<VideoEncoder> open_gstreamer_encoder(const std::string& element, EncoderKind kind,
                                                     const VideoEncoderConfig& cfg);

}  // namespace tessera
