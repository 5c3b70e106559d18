#pragma once
// One interface for every video encoder, whatever library runs it. Low latency throughout:
// every picture in gives its compressed frame out at once (no B-frames, no lookahead), so the
// decoder can show frames in the order they arrive. H.264/H.265 come out as Annex-B access
// units with parameter sets before every keyframe; VP8/VP9 as raw frames; MJPEG as JFIF.
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "encode/video_codec.h"
#include "encode/yuv_image.h"

namespace tessera {

// An encoder could not be opened or failed; `what()` says why in words for the operator.
class EncoderError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Whether a candidate runs on dedicated hardware, and through which API.
enum class EncoderKind { software, nvenc, vaapi, qsv };
std::string_view to_string(EncoderKind k);

struct VideoEncoderConfig {
  VideoCodec codec = VideoCodec::h264;
  int32_t width = 0, height = 0;  // even
  int fps = 30;
  int bitrate_kbps = 4000;
  // Software presets by codec family: x264/x265 speed presets ("ultrafast" ...), libvpx
  // cpu-used ("8" ...). Empty picks the lowest-latency one.
  std::string preset;
  // Frames between forced keyframes; 0 = only on request (a reliable transport needs no more).
  int keyframe_interval = 0;
  // One slice per picture. Some decoders take each slice for a picture of its own (noVNC's
  // WebCodecs path shows green); x264 then gives up sliced threads and runs on one thread.
  bool single_slice = false;
  // Encoder threads; 0: the encoder's own choice. x264's sliced threads and libvpx's row
  // threads make the output depend on timing: 1 gives the same bytes on every run (bench/).
  int threads = 0;
};

struct EncodedFrame {
  std::vector<uint8_t> data;
  bool keyframe = false;
};

class VideoEncoder {
 public:
  virtual ~VideoEncoder() = default;
  // The picture layout this encoder takes; callers convert to it once.
  virtual YuvLayout input_layout() const = 0;
  virtual bool full_range_input() const { return false; }
  // Compresses one picture and returns the frames that came out, each a complete access unit
  // or frame: exactly one with our low-latency settings; none when the encoder dropped the
  // picture or still holds it. Throws EncoderError when the encoder failed for good.
  virtual std::vector<EncodedFrame> encode(const YuvImage& picture, bool force_keyframe) = 0;
  // Takes effect from the next picture; encoders that cannot change rate live reopen,
  // and the next frame is then a keyframe.
  virtual void set_bitrate(int kbps) = 0;
  // Whether set_bitrate() works without a reopen (and so without a keyframe).
  virtual bool changes_rate_live() const { return true; }
  // The colour matrix the pictures must use: BT.601, except where the bitstream cannot say so
  // and decoders assume BT.709 (VP8 taller than 576 rows: GStreamer's default).
  virtual bool wants_bt709() const { return false; }
  // "ffmpeg:libx264", "gstreamer:vp9enc" ...
  virtual std::string name() const = 0;
  const VideoEncoderConfig& config() const { return cfg_; }

 protected:
  explicit VideoEncoder(VideoEncoderConfig cfg) : cfg_(std::move(cfg)) {}
  VideoEncoderConfig cfg_;
};

}  // namespace tessera
