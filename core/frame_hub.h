#pragma once
// Hands the newest frame and cursor to any number of viewers. Each viewer has its own
// subscription that accumulates damage until the viewer takes it, so a slow viewer skips
// intermediate frames (its pending region only grows to the screen) and never holds up others.
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "core/cursor.h"
#include "core/frame.h"
#include "core/frame_change.h"
#include "core/region.h"

namespace tessera {

class FrameHub;

// What a viewer wants from the hub; it is handed nothing else.
struct Interest {
  bool frames = true;
  bool cursor = true;
};

class Subscription {
 public:
  struct FrameUpdate {
    FramePtr frame;
    std::vector<Move> moves;  // apply first, in order
    Region damage;            // then paint these pixels from `frame`
    Region motion;            // the part of `damage` classified as motion in the newest frame
    Region motion_area;       // everything classified as motion in the newest frame
    bool resized = false;     // the frame size differs from the last one this viewer took
  };

  // Waits until there is something to take, the subscription is closed, or the timeout passes.
  // Returns true when something is pending.
  bool wait(std::chrono::milliseconds timeout);
  // The newest frame and all damage since the last take; nullopt when nothing changed.
  std::optional<FrameUpdate> take_frame();
  // The newest cursor state when it changed since the last take.
  std::optional<CursorState> take_cursor();
  // Make the next take_frame() return the whole frame (a client asked for a full refresh).
  void request_full_frame();
  void close();
  bool closed() const;

 private:
  friend class FrameHub;
  void post_frame(const FramePtr& f, const FrameChange& change);
  void post_cursor(const CursorState& c);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  Interest interest_;
  FramePtr frame_;
  Size taken_size_{};
  Region damage_;
  std::vector<Move> moves_;
  Region motion_;
  Region motion_area_;
  bool full_ = false;
  std::optional<CursorState> cursor_;
  bool closed_ = false;
};

class FrameHub {
 public:
  // `change` is what changed since the previously published frame; a size change implies all.
  void publish(FramePtr frame, const FrameChange& change);
  void publish(FramePtr frame, const Region& damage);
  void publish_cursor(const CursorState& cursor);
  std::shared_ptr<Subscription> subscribe(Interest interest = {});
  FramePtr latest() const;
  std::optional<CursorState> cursor() const;
  // Wakes and closes every subscription; later subscribe() calls get closed ones.
  void close();

 private:
  mutable std::mutex mu_;
  FramePtr latest_;
  std::optional<CursorState> cursor_;
  std::vector<std::weak_ptr<Subscription>> subs_;
  bool closed_ = false;
};

}  // namespace tessera
