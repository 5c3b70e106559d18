#pragma once
// Turns frame updates into display-channel messages: surface, moves (COPY_BITS), video stream
// frames, then the rest losslessly: uniform bands as DRAW_FILL, the rest as DRAW_COPY of
// whichever image is smallest (a palette bitmap for few colours, LZ4 when the client decodes it,
// else plain 32-bit).
// The display channel drives it with its socket; bench/ drives it offline with a sink that
// records and decodes every message, so both measure the same code.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/frame_hub.h"
#include "encode/lz4_image_encoder.h"
#include "transport/spice/glz_encoder.h"
#include "transport/spice/image_cache.h"
#include "transport/spice/messages.h"
#include "transport/spice/repaint_budget.h"
#include "transport/spice/video_streams.h"

namespace tessera::spice {

// Which lossless image forms the writer may send. Auto: whichever is smallest of a palette
// bitmap, GLZ and LZ4 (what the client decodes); the others: that one (or a plain bitmap
// where it does not apply); Off: plain 32-bit bitmaps only.
enum class ImageCodec { Auto, Glz, Lz4, Palette, Off };
std::optional<ImageCodec> parse_image_codec(const std::string& name);  // "auto", "glz", ...
const char* to_string(ImageCodec c);

class DisplayUpdateWriter {
 public:
  using Clock = VideoStreams::Clock;
  // Sends one message now (the caller already waited for the ACK window through `ready`).
  using SendFn = std::function<void(uint16_t type, const Body& body)>;

  struct Counters {
    uint64_t updates = 0, draws = 0, lz4_draws = 0, palette_draws = 0, glz_draws = 0, fills = 0, copies = 0,
             bytes = 0;
    uint64_t cache_hits = 0, cache_evictions = 0;
    uint64_t repaints = 0, repaint_parts = 0;  // ended streams' areas repainted, and the updates that took
    std::chrono::nanoseconds lossless_time{};  // compressing and packing DRAW_COPY images
  };

  DisplayUpdateWriter(VideoSettings video, ImageCodec codec, VideoStreams::CapFn client_cap, VideoStreams::ReadyFn ready,
                      SendFn send, std::string tag);

  // One update: the newest frame with everything that changed since the last one sent.
  void update(const Subscription::FrameUpdate& u, Clock::time_point now);
  // Frames a stream still owes (held back by --video-fps-max) and the next part of a paced
  // repaint, when due.
  void send_owed_frames(Clock::time_point now);
  // When send_owed_frames() has something to send next; nullopt when nothing is owed.
  std::optional<Clock::time_point> next_due() const;
  // How the area a stream leaves is repainted: in parts within a per-client budget (auto, a
  // fixed size) or at once (off). Set before the first update.
  void set_repaint_pacing(RepaintPacing p) { repaint_budget_ = RepaintBudget(p); }
  // From the receive thread: an ACK arrived this long after the message that completed its window.
  void note_round_trip(std::chrono::nanoseconds rtt) { pending_rtt_ns_ = rtt.count(); }
  // What the client still shows from ended streams (lossy) until the paced repaint reaches it.
  const Region& repaint_owed() const { return owed_; }
  // The client's DISPLAY_PREFERRED_COMPRESSION (SPICE_IMAGE_COMPRESSION_*).
  void set_preferred_compression(uint8_t c) { preferred_compression_ = c; }
  // The pixmap cache size (pixels) from the client's DISPLAY_INIT, from any thread; it takes
  // effect before the first image (0: no cache). Later ones are ignored.
  void set_client_cache(int64_t pixels, int64_t glz_window_pixels = 0) {
    client_cache_pixels_ = pixels;
    client_glz_pixels_ = glz_window_pixels;
  }
  // GLZ images need the session's dictionary window to ourselves: a second display channel of
  // a session (a reconnect) must not use them. True by default.
  void allow_glz(bool allowed) { glz_allowed_ = allowed; }
  const ImageCache& cache() const { return cache_; }

  VideoStreams& video() { return *video_; }
  const VideoStreams& video() const { return *video_; }
  const Counters& counters() const { return sent_; }

 private:
  void send_rect(const Frame& f, const Rect& r);
  void send_image(const Frame& f, const Rect& r);
  void send_lossless(const Frame& f, const Region& region);
  void send_repaint(const Frame& f, Clock::time_point now);
  void steer_budget();
  Clock::time_point repaint_due() const;  // when the next part of a paced repaint may go
  bool send_waiting(uint16_t type, const Body& body);
  void send_counted(uint16_t type, const Body& body);

  ImageCodec codec_;
  VideoStreams::CapFn client_cap_;
  VideoStreams::ReadyFn ready_;
  SendFn send_;
  std::string tag_;
  std::atomic<uint8_t> preferred_compression_{SPICE_IMAGE_COMPRESSION_LZ4};
  std::atomic<int64_t> client_cache_pixels_{0};
  std::atomic<int64_t> client_glz_pixels_{0};
  std::atomic<bool> glz_allowed_{true};
  GlzEncoder glz_{0};
  bool cache_started_ = false;  // the capacity is fixed and the client told to start afresh
  ImageCache cache_;
  bool surface_created_ = false;
  uint64_t next_image_id_ = 1;
  Counters sent_;
  Lz4ImageEncoder lz4_encoder_;
  std::unique_ptr<VideoStreams> video_;
  FramePtr last_frame_;
  RepaintBudget repaint_budget_;
  Region owed_;  // lossy pixels of ended streams, repainted part by part
  Clock::time_point last_repaint_{};
  double repaint_ratio_ = 0.5;  // bytes sent per raw byte, over the last repaint parts
  uint64_t run_parts_ = 0, run_bytes_ = 0;  // of the repaint under way
  std::atomic<int64_t> pending_rtt_ns_{-1};
  uint64_t late_frames_seen_ = 0;
};

}  // namespace tessera::spice
