#pragma once
// Which encoder runs each codec. At start every candidate of the chosen backend is tried in
// order (hardware first: NVENC, VAAPI, QSV; then software) by opening it and compressing one
// picture; the first that works serves that codec. `tessera probe` prints every attempt.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "encode/video_encoder.h"

namespace tessera {

struct EncoderCandidate {
  EncoderBackend backend = EncoderBackend::ffmpeg;
  VideoCodec codec = VideoCodec::h264;
  std::string element;  // FFmpeg encoder name or GStreamer element name
  EncoderKind kind = EncoderKind::software;
  std::string label() const;  // "ffmpeg:h264_nvenc"
};

// Every candidate for `codec` through `backend`, best first.
std::vector<EncoderCandidate> encoder_candidates(EncoderBackend backend, VideoCodec codec);
// Opens a candidate; throws EncoderError with the reason.
std::unique_ptr<VideoEncoder> open_encoder(const EncoderCandidate& c, const VideoEncoderConfig& cfg);

struct ProbeAttempt {
  EncoderCandidate candidate;
  bool ok = false;
  std::string reason;  // why it was rejected, or what it produced
  double millis = 0;
};

struct EncoderCatalogOptions {
  EncoderBackend backend = EncoderBackend::ffmpeg;
  std::vector<VideoCodec> codecs{VideoCodec::h264, VideoCodec::vp9, VideoCodec::vp8, VideoCodec::h265,
                                 VideoCodec::mjpeg};
  // Candidates refused as though they failed (by element name or label), e.g. a driver the
  // operator does not trust.
  std::vector<std::string> exclude;
  // Keep trying the rest after a codec found its encoder (for `tessera probe`).
  bool probe_all = false;
  // Opens candidates; tests replace it to stand in for hardware.
  std::function<std::unique_ptr<VideoEncoder>(const EncoderCandidate&, const VideoEncoderConfig&)> opener =
      open_encoder;
};

class EncoderCatalog {
 public:
  EncoderCatalog() = default;
  static EncoderCatalog probe(const EncoderCatalogOptions& opts);

  const std::vector<ProbeAttempt>& attempts() const { return attempts_; }
  // The chosen encoder of a codec, if any worked.
  std::optional<EncoderCandidate> selected(VideoCodec codec) const;
  // Codecs with a working encoder, in the order the options listed them.
  const std::vector<VideoCodec>& available() const { return available_; }
  // A fresh encoder for one stream; throws EncoderError.
  std::unique_ptr<VideoEncoder> open(VideoCodec codec, const VideoEncoderConfig& cfg) const;

 private:
  std::vector<ProbeAttempt> attempts_;
  std::map<VideoCodec, EncoderCandidate> selected_;
  std::vector<VideoCodec> available_;
  std::function<std::unique_ptr<VideoEncoder>(const EncoderCandidate&, const VideoEncoderConfig&)> opener_;
};

}  // namespace tessera
