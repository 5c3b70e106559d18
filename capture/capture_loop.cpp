#include "capture/capture_loop.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

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
      frame_limit_(frame_limit) {
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  poke_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0 || poke_fd_ < 0)
    throw std::runtime_error(std::string("capture: eventfd failed: ") + std::strerror(errno));
}

CaptureLoop::~CaptureLoop() {
  stop();
  ::close(stop_fd_);
  ::close(poke_fd_);
}

bool CaptureLoop::tick(uint64_t index) {
  // The source's lock covers the source's calls only: input must not wait for the tracker.
  CapturedFrame c;
  {
    std::lock_guard lock(source_mu_);
    c = source_.capture(index);
  }
  bool changed = false;
  if (c.frame) {
    auto now = std::chrono::steady_clock::now();
    FrameChange change = tracker_.update(c.frame, &c.damage, now);
    changed = !change.damage.empty() || !change.moves.empty();
    if (changed) last_change_ = now;
    // Nothing for viewers when nothing changed and the motion area stayed: an idle desktop
    // wakes none of their threads.
    if (changed || !published_ || !(change.motion_area == published_motion_)) {
      hub_.publish(c.frame, change);
      published_ = true;
      published_motion_ = change.motion_area;
    }
  }
  std::optional<CursorState> cur;
  {
    std::lock_guard lock(source_mu_);
    cur = source_.cursor(index);
  }
  if (cur && (!last_cursor_ || !same_cursor(*cur, *last_cursor_))) {
    hub_.publish_cursor(*cur);
    last_cursor_ = cur;
  }
  frames_.fetch_add(1);
  return changed;
}

CaptureLoop::Wake CaptureLoop::wait(int fd, std::chrono::steady_clock::time_point until) {
  for (;;) {
    auto left = until - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) return Wake::Tick;
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    timespec ts{time_t(ns / 1000000000), long(ns % 1000000000)};
    pollfd p[3] = {{stop_fd_, POLLIN, 0}, {poke_fd_, POLLIN, 0}, {fd, POLLIN, 0}};
    int n = ::ppoll(p, fd >= 0 ? 3 : 2, &ts, nullptr);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      spdlog::warn("capture: poll failed: {}; waiting for ticks only", std::strerror(errno));
      std::this_thread::sleep_until(until);
      return Wake::Tick;
    }
    if (p[0].revents) return Wake::Stop;
    if (p[1].revents) {
      uint64_t v;
      (void)!::read(poke_fd_, &v, sizeof v);
      if (fd >= 0) return Wake::Poke;
      continue;
    }
    if (n > 0 && (p[2].revents & (POLLHUP | POLLERR | POLLNVAL))) return Wake::Lost;
    if (n > 0 && (p[2].revents & POLLIN)) return Wake::Change;
    if (n == 0) return Wake::Tick;
  }
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
  std::stop_callback wake_on_stop(st, [this] {
    uint64_t one = 1;
    (void)!::write(stop_fd_, &one, sizeof one);
  });
  // Frame-limited runs (tests, benchmarks) stay on the tick grid: reproducible.
  int fd = -1;
  if (!frame_limit_) {
    std::lock_guard lock(source_mu_);
    fd = source_.change_fd();
  }
  uint64_t index = 0;
  for (;;) {
    while (fd >= 0) {
      auto tick_at = clock_.time_of(clock_.next_index());
      // A quiet screen with nothing in motion needs no ticks: changes (and pointer motion) wake
      // the loop. A slow tick remains for the source's housekeeping (periodic full reads).
      const auto now = std::chrono::steady_clock::now();
      if (now - last_change_ > kIdleAfter && tracker_.motion_area().empty())
        tick_at = std::max(tick_at, last_tick_ + kIdleTick);
      bool queued;
      {
        std::lock_guard lock(source_mu_);
        queued = source_.change_queued();
      }
      Wake w = queued ? Wake::Change : wait(fd, tick_at);
      if (w == Wake::Stop || st.stop_requested()) return;
      if (w == Wake::Lost) {
        spdlog::warn("capture: the source's change descriptor closed; capturing on ticks only");
        fd = -1;
        break;
      }
      if (w == Wake::Tick) break;
      if (w == Wake::Poke) continue;  // look at the source's queue again
      // A change: read it now, unless the last frame that changed, or the last early read (the
      // descriptor also wakes for pointer motion), is less than a tick ago.
      auto at = std::max({std::chrono::steady_clock::now() + kCoalesce, last_change_ + clock_.interval(),
                          last_early_ + clock_.interval()});
      if (at >= tick_at) break;
      if (wait(-1, at) == Wake::Stop) return;
      try {
        last_early_ = std::chrono::steady_clock::now();
        tick(clock_.current_index());
        early_.fetch_add(1);
      } catch (const std::exception& e) {
        spdlog::error("capture: frame on a change failed: {}", e.what());
      }
    }
    // The cap holds for ticks too: a frame that changed just before its tick moves the tick.
    if (fd >= 0 && last_change_ + clock_.interval() > clock_.time_of(clock_.next_index()) &&
        wait(-1, last_change_ + clock_.interval()) == Wake::Stop)
      return;
    if (!clock_.wait_next(st, index)) return;
    last_tick_ = std::chrono::steady_clock::now();
    bool last = frame_limit_ && index + 1 >= frame_limit_;
    if (last) index = frame_limit_ - 1;  // a late clock must not skip the final frame
    try {
      tick(index);
    } catch (const std::exception& e) {
      spdlog::error("capture: frame {} failed: {}", index, e.what());
    }
    if (last) {
      // Nothing moves any more: what was motion is static now and goes out losslessly.
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
  {
    std::lock_guard lock(source_mu_);
    source_.handle_input(e);
  }
  // Handing input over may have read the source's pending events off its descriptor (Xlib's
  // flush reads what arrived): the loop must look at the source's queue, not just the descriptor.
  uint64_t one = 1;
  (void)!::write(poke_fd_, &one, sizeof one);
}

}  // namespace tessera
