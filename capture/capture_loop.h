#pragma once
// Pulls frames from a source at the frame clock's rate and publishes them to a hub.
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

 private:
  void tick(uint64_t index);
  void run(std::stop_token st);

  FrameSource& source_;
  FrameHub& hub_;
  FrameClock clock_;
  DamageTracker tracker_;
  uint64_t frame_limit_;
  std::mutex source_mu_;  // sources are not thread-safe; input and capture take turns
  std::optional<CursorState> last_cursor_;
  std::atomic<uint64_t> frames_{0};
  std::jthread thread_;
};

}  // namespace tessera
