#pragma once
// How many bytes of lossless repaint one display update may carry for one client. A stream
// that ends leaves its whole area lossy; sent in one update at 1080p that is most of a
// megabyte, which stalls the video and input queued behind it on a slow link. The repaint
// is sent in parts instead, each within this budget.
//
// Auto: the budget starts at two stream frames at the stream's current rate (which client
// reports already cut on a slow link). ACK round trips of the display channel then steer it:
// a window acknowledged within half a frame interval doubles it (up to 16 stream frames),
// one that took longer than a frame interval halves it, and so do late frames in a stream
// report. It never drops below 16 KB, so a repaint always moves.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace tessera::spice {

struct RepaintPacing {
  enum class Mode { Auto, Off, Fixed };
  Mode mode = Mode::Auto;
  int64_t fixed_bytes = 0;  // Fixed: bytes per update
};
// "auto", "off" or a size in KB ("64"); nullopt for anything else.
std::optional<RepaintPacing> parse_repaint_pacing(const std::string& text);
std::string to_string(const RepaintPacing& p);

class RepaintBudget {
 public:
  using Duration = std::chrono::nanoseconds;
  static constexpr int64_t kMinBytes = 16 * 1024;
  static constexpr int64_t kStartFrames = 2, kMaxFrames = 16;

  explicit RepaintBudget(RepaintPacing pacing = {}) : pacing_(pacing) {}

  // The stream's frame size at its current rate and the frame interval.
  void set_stream(int bitrate_kbps, int fps);
  // An ACK came back this long after the message that completed its window was sent.
  void on_round_trip(Duration rtt);
  // A stream report counted frames that arrived too late to show.
  void on_late_frames();
  // Bytes one update may spend on repaint; INT64_MAX when pacing is off.
  int64_t bytes() const;
  bool paced() const { return pacing_.mode != RepaintPacing::Mode::Off; }
  Duration interval() const { return interval_; }

 private:
  int64_t frame_bytes() const;
  void clamp_level();

  RepaintPacing pacing_;
  int bitrate_kbps_ = 8000;
  Duration interval_ = std::chrono::milliseconds(33);
  int64_t level_ = -1;  // the auto budget; -1 until the first stream sets it
};

}  // namespace tessera::spice
