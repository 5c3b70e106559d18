#include "core/frame_clock.h"

#include <ctime>

#include <stdexcept>

namespace tessera {

std::chrono::nanoseconds process_cpu_time() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

uint32_t monotonic_ms() {
  auto t = std::chrono::steady_clock::now().time_since_epoch();
  return uint32_t(std::chrono::duration_cast<std::chrono::milliseconds>(t).count());
}

FrameClock::FrameClock(double fps) : fps_(fps) {
  if (!(fps > 0.0 && fps <= 1000.0)) throw std::invalid_argument("fps must be in (0, 1000]");
  interval_ = std::chrono::nanoseconds(int64_t(1e9 / fps));
  start_ = std::chrono::steady_clock::now();
}

uint64_t FrameClock::current_index() const {
  auto elapsed = std::chrono::steady_clock::now() - start_;
  return uint64_t(elapsed / interval_);
}

uint64_t FrameClock::next_index() const { return first_ ? 0 : std::max(last_ + 1, current_index()); }

std::chrono::steady_clock::time_point FrameClock::time_of(uint64_t index) const {
  return start_ + interval_ * int64_t(index);
}

bool FrameClock::wait_next(std::stop_token stop, uint64_t& index) {
  if (first_) {
    // Tick 0 is now, not when the clock was built: set-up in between (encoder probing) must
    // not make the first ticks late.
    first_ = false;
    start_ = std::chrono::steady_clock::now();
    last_ = 0;
    index = 0;
    return !stop.stop_requested();
  }
  uint64_t next = next_index();
  auto deadline = time_of(next);
  std::unique_lock lock(mu_);
  if (cv_.wait_until(lock, stop, deadline, [] { return false; }), stop.stop_requested()) return false;
  last_ = next;
  index = next;
  return true;
}

}  // namespace tessera
