#pragma once
// Paces a capture loop at a fixed rate. Tick indices follow wall time, so a late loop skips
// ticks instead of drifting: frame N always belongs to the instant N / fps after start.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <stop_token>

namespace tessera {

// Milliseconds of a monotonic clock; what SPICE calls multimedia time is derived from it.
uint32_t monotonic_ms();
// CPU time this process has used so far, all threads together.
std::chrono::nanoseconds process_cpu_time();

class FrameClock {
 public:
  explicit FrameClock(double fps);

  double fps() const { return fps_; }
  std::chrono::nanoseconds interval() const { return interval_; }
  // Sleeps until the tick after the last one returned (or returns at once when late) and
  // gives its index. Returns false when `stop` was requested while waiting.
  bool wait_next(std::stop_token stop, uint64_t& index);
  // The tick index that wall time has reached now.
  uint64_t current_index() const;
  // The index wait_next() will give next, and when that tick is due.
  uint64_t next_index() const;
  std::chrono::steady_clock::time_point time_of(uint64_t index) const;

 private:
  double fps_;
  std::chrono::nanoseconds interval_;
  std::chrono::steady_clock::time_point start_;
  uint64_t last_ = 0;
  bool first_ = true;
  std::mutex mu_;
  std::condition_variable_any cv_;
};

}  // namespace tessera
