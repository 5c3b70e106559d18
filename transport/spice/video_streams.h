#pragma once
// The video streams of one display connection. Where the damage tracker classifies motion,
// a stream covers its bounding box and carries those pixels as H.264/VP9/VP8/H.265/MJPEG
// frames; everything else keeps going lossless. A stream ends as soon as its area holds no
// motion (or its encoder fails, or the client cannot decode it) and its area is then
// repainted losslessly, so no lossy residue stays behind.
//
// Latency: frames are stamped with the real multimedia time plus a few milliseconds, so the
// client shows each one as soon as it is decoded (spice-server makes clients wait 400 ms).
// Rate: client reports of late frames cut the bitrate; good reports raise it slowly.
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/frame.h"
#include "core/motion_boxes.h"
#include "core/frame_change.h"
#include "core/region.h"
#include "encode/encoder_catalog.h"
#include "encode/yuv_image.h"
#include "transport/spice/messages.h"

namespace tessera::spice {

struct VideoSettings {
  std::shared_ptr<const EncoderCatalog> encoders;  // null or no codecs: everything lossless
  std::vector<VideoCodec> codecs{VideoCodec::h264, VideoCodec::vp9, VideoCodec::vp8, VideoCodec::h265,
                                 VideoCodec::mjpeg};  // the server's order of preference
  std::string preset;           // encoder speed preset; empty: the lowest-latency one
  int encoder_threads = 0;      // 0: each encoder's own choice (see VideoEncoderConfig::threads)
  int bitrate_kbps = 8000;      // each stream starts here and never exceeds it
  int min_bitrate_kbps = 250;   // rate control never cuts below this
  int fps_max = 30;             // frames per second per stream at most
  uint32_t frame_delay_ms = 8;  // stamp = send time + this (grows up to one frame interval when
                                // reports show frames arriving late; MJPEG starts there)
  size_t max_streams = 4;       // more motion areas than this go lossless
  int64_t min_area = 64 * 64;   // smaller motion areas go lossless
  // A motion area waits this long before its stream opens (its tiles may still be joining). None
  // by default: a starting video joins whole at its second change (fast entry in the tracker),
  // and a box that grows later still replaces its stream.
  std::chrono::milliseconds settle{0};
  // The multimedia clock frames are stamped with (ms); null: the real one. bench/ runs offline
  // on a synthetic clock so that the same run gives the same bytes.
  std::function<uint32_t()> mm_clock;
};

// SPICE codec type <-> ours, and the display capability that says a client decodes it.
uint8_t spice_codec_type(VideoCodec c);
std::optional<VideoCodec> codec_of_spice_type(uint8_t type);
unsigned spice_codec_cap(VideoCodec c);


// The largest part of `m` that copies only pixels the client holds exactly (outside `unsafe`)
// and lands outside the live streams (`video`); nullopt when no part does.
std::optional<Move> safe_move_part(const Move& m, const Region& unsafe, const Region& video);

class VideoStreams {
 public:
  using Clock = std::chrono::steady_clock;
  // Sends one message, waiting for the client's ACK window; false when the connection is gone.
  using SendFn = std::function<bool(uint16_t type, const Body& body)>;
  // Whether the client advertised a display capability.
  using CapFn = std::function<bool(unsigned cap)>;
  // Waits until a message may be sent now (the ACK window); false when the connection is gone.
  // Frames are stamped after it, so a full window does not make them late.
  using ReadyFn = std::function<bool()>;

  VideoStreams(VideoSettings settings, CapFn client_cap, std::string tag, ReadyFn ready = nullptr);
  ~VideoStreams();

  struct Stats {
    uint64_t streams = 0, frames = 0, keyframes = 0, bytes = 0, held_back = 0, dropped = 0;
    uint64_t reports = 0, late_frames = 0;
    std::vector<int32_t> margins;  // last_frame_delay of each report: the client's added wait
    // Pictures converted and encoded, and the time that took (CPU: the whole process's while
    // the encoder ran, so its worker threads count).
    uint64_t encoded = 0;
    std::chrono::nanoseconds convert_time{}, encode_time{}, encode_cpu{};
  };

  // Receive thread: client messages, applied by the sender thread at its next call.
  void post_report(const StreamReport& r);
  void post_preferred_codecs(std::vector<uint8_t> spice_types);

  // Sender thread, once per update before anything is drawn: creates and destroys streams to
  // match `motion_area`. Returns what must now be painted losslessly (areas of streams that
  // ended and are not covered by a new one).
  //  - A new motion area settles for `settle` first (its tiles join the motion class one by
  //    one), and the stream covers all it reached meanwhile: one keyframe, not one per step.
  //  - A stream keeps going while most of a motion area lies inside it; motion that strays a
  //    little outside (a pointer trail joining the video's group) goes lossless instead of
  //    restarting the stream.
  Region plan(const Region& motion_area, const Rect& bounds, Clock::time_point now, const SendFn& send);
  // The union of the live streams' rectangles: pixels there travel as video.
  Region covered() const;
  // Sends a frame on every stream whose rectangle intersects `damage` (or still owes one).
  // Returns what must be painted losslessly because a stream failed and ended.
  Region send_frames(const Region& damage, const Frame& frame, Clock::time_point now, const SendFn& send);
  // When a stream owes a frame that --video-fps-max held back: the time it is due.
  std::optional<Clock::time_point> next_due() const;
  // Ends every stream (a new surface); nothing is repainted.
  void destroy_all(const SendFn& send);
  bool empty() const { return streams_.empty(); }
  // The rate a stream runs at now (the highest of the live ones, else the last one's when it
  // ended, else the configured rate): what the client's link has shown it takes.
  int rate_kbps() const;
  int fps() const { return cfg_.fps_max; }
  const Stats& stats() const { return stats_; }
  std::string summary() const;

 private:
  struct Stream;
  std::optional<VideoCodec> choose_codec() const;
  // The multimedia clock frames are stamped with (the injected one, if any): reports compare
  // against it.
  uint32_t mm_now() const;
  bool open_stream(const Rect& r, Clock::time_point now, const SendFn& send);
  void close_stream(size_t index, bool tell_client, const SendFn& send);
  void apply_reports(Clock::time_point now);
  bool send_frame(Stream& s, const Frame& frame, Clock::time_point now, const SendFn& send);

  VideoSettings cfg_;
  CapFn client_cap_;
  std::string tag_;
  ReadyFn ready_;
  uint32_t delay_ms_;  // current stamp margin
  int last_rate_kbps_ = 0;  // of the stream that ended last
  struct Closed {
    uint32_t id, unique_id;
    VideoCodec codec;
  };
  std::vector<Closed> recently_closed_;  // a late "unsupported" report still counts
  std::vector<std::unique_ptr<Stream>> streams_;
  struct Candidate {
    Rect rect;  // every box this motion area had since it appeared
    Clock::time_point since;
  };
  std::vector<Candidate> candidates_;
  std::vector<VideoCodec> failed_codecs_;  // this client cannot take these (or they broke)

  mutable std::mutex in_mu_;
  std::vector<StreamReport> reports_;
  std::optional<std::vector<uint8_t>> preferred_;
  std::vector<uint8_t> client_order_;

  YuvImage picture_;
  Stats stats_;
};

}  // namespace tessera::spice
