#include "capture/capture_loop.h"

#include "core/frame_clock.h"
#include "core/log.h"

namespace tessera {

namespace {
bool same_cursor(const CursorState& a, const CursorState& b) {
  auto serial = [](const CursorState& c) { return c.image ? c.image->serial : 0; };
  return a.image == b.image && serial(a) == serial(b) && a.x == b.x && a.y == b.y && a.visible == b.visible;
}
}  // namespace

CaptureLoop::CaptureLoop(FrameSource& source, FrameHub& hub, double fps, DamageTrackerConfig tracker,
                         uint64_t frame_limit)
    : source_(source), hub_(hub), clock_(fps), tracker_([&] {
        tracker.classifier.frame_interval = clock_.interval();
        return tracker;
      }()),
      frame_limit_(frame_limit) {}

CaptureLoop::~CaptureLoop() { stop(); }

void CaptureLoop::tick(uint64_t index) {
  std::lock_guard lock(source_mu_);
  CapturedFrame c = source_.capture(index);
  if (c.frame) hub_.publish(c.frame, tracker_.update(c.frame, &c.damage, std::chrono::steady_clock::now()));
  if (auto cur = source_.cursor(index); cur && (!last_cursor_ || !same_cursor(*cur, *last_cursor_))) {
    hub_.publish_cursor(*cur);
    last_cursor_ = cur;
  }
  frames_.fetch_add(1);
}

void CaptureLoop::start() {
  uint64_t index = 0;
  clock_.wait_next({}, index);
  // Tick k is due k/fps after this: tests and benchmarks turn ticks into times with it.
  spdlog::info("capture: tick 0 at monotonic {} ms", monotonic_ms());
  tick(index);
  thread_ = std::jthread([this](std::stop_token st) { run(st); });
}

void CaptureLoop::run(std::stop_token st) {
  uint64_t index = 0;
  while (clock_.wait_next(st, index)) {
    bool last = frame_limit_ && index + 1 >= frame_limit_;
    if (last) index = frame_limit_ - 1;  // a late clock must not skip the final frame
    try {
      tick(index);
    } catch (const std::exception& e) {
      spdlog::error("capture: frame {} failed: {}", index, e.what());
    }
    if (last) {
      // Nothing moves any more: what was motion is static now and goes out losslessly.
      std::lock_guard lock(source_mu_);
      Region still = tracker_.motion_area();
      if (auto f = hub_.latest(); f && !still.empty()) {
        FrameChange c;
        c.damage = still;
        c.refresh = still;
        hub_.publish(f, c);
      }
      spdlog::info("capture: {} frames captured; serving the last one", frame_limit_);
      return;
    }
  }
}

void CaptureLoop::stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
}

void CaptureLoop::deliver_input(const InputEvent& e) {
  std::lock_guard lock(source_mu_);
  source_.handle_input(e);
}

}  // namespace tessera
