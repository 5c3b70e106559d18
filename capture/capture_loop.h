#pragma once
// Pulls frames from a source at the frame clock's rate and publishes them to a hub. A source that
// reports changes (FrameSource::change_fd) is read as soon as one arrives, after a short wait
// for the rest of its burst, rather than at the next tick; the frame rate stays the cap: two
// frames that changed are never closer than one tick apart; and while such a source is quiet the
// ticks slow down to two a second.
#include <atomic>
#include <memory>
#include <mutex>
#include <thread>

#include "capture/frame_source.h"
#include "core/damage_tracker.h"
#include "core/frame_clock.h"
#include "core/frame_hub.h"

namespace tessera {

class CaptureLoop {
 public:
  // With `frame_limit` > 0, ticks 0..frame_limit-1 are captured and the last one stays.
  CaptureLoop(FrameSource& source, FrameHub& hub, double fps, DamageTrackerConfig tracker = {},
              uint64_t frame_limit = 0);
  ~CaptureLoop();
  // Captures the first frame synchronously (so viewers never see an empty hub), then runs.
  void start();
  void stop();
  // Input from viewers, handed to the source from any thread.
  void deliver_input(const InputEvent& e);
  uint64_t frames_captured() const { return frames_.load(); }
  // Frames taken because the source reported a change, before their tick was due.
  uint64_t early_captures() const { return early_.load(); }
  // After a change wakes the loop, the rest of its burst (an X client draws text, then the
  // text cursor) gets this long to arrive.
  static constexpr std::chrono::microseconds kCoalesce{700};
  // A source that reports changes is ticked this often once nothing changed for kIdleAfter and
  // nothing is in motion.
  static constexpr std::chrono::milliseconds kIdleTick{500};
  static constexpr std::chrono::milliseconds kIdleAfter{1000};

 private:
  enum class Wake { Tick, Change, Stop, Lost, Poke };
  // Returns whether the frame had damage.
  bool tick(uint64_t index);
  void run(std::stop_token st);
  // Waits for the source's descriptor, a stop, or `until` (fd -1: only the latter two).
  Wake wait(int fd, std::chrono::steady_clock::time_point until);

  FrameSource& source_;
  FrameHub& hub_;
  FrameClock clock_;
  DamageTracker tracker_;
  uint64_t frame_limit_;
  std::mutex source_mu_;  // sources are not thread-safe; input and capture take turns
  std::optional<CursorState> last_cursor_;
  std::atomic<uint64_t> frames_{0};
  std::atomic<uint64_t> early_{0};
  int stop_fd_ = -1;  // an eventfd: a stop wakes a waiting poll
  int poke_fd_ = -1;  // an eventfd: input was delivered, look at the source's queue again
  std::chrono::steady_clock::time_point last_change_{};  // of the last frame that had damage
  std::chrono::steady_clock::time_point last_early_{};   // of the last read before its tick
  std::chrono::steady_clock::time_point last_tick_{};    // of the last read on the tick grid
  bool published_ = false;
  Region published_motion_;
  std::jthread thread_;
};

}  // namespace tessera
