#pragma once
// Video encoders run through FFmpeg's libavcodec: libx264, libx265, libvpx, libvpx-vp9, mjpeg,
// and the hardware ones (h264_nvenc, h264_vaapi, vp9_vaapi, h264_qsv ...). VAAPI and QSV get
// their own hardware device and frame pool; pictures are uploaded to it as NV12.
#include <memory>
#include <string>

#include "encode/video_encoder.h"

namespace tessera {

// Throws EncoderError with the reason when `encoder` is missing from this FFmpeg, its device
// cannot be opened, or it rejects the configuration.
std::unique_ptr<VideoEncoder> open_ffmpeg_encoder(const std::string& encoder, EncoderKind kind,
                                                  const VideoEncoderConfig& cfg);

}  // namespace tessera
