#pragma once
// Log lines for refused connections, at most one a second: under a flood the next line says
// how many were refused meanwhile. One accept thread calls it; not thread-safe.
#include <chrono>
#include <cstddef>
#include <string>

namespace tessera::net {

class RefusalLog {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RefusalLog(std::string prefix) : prefix_(std::move(prefix)) {}
  // Logs `why` (a warning) unless a line went out less than a second ago; counts it either way.
  void note(const std::string& why, Clock::time_point now = Clock::now());
  size_t total() const { return total_; }

 private:
  std::string prefix_;
  Clock::time_point last_{};
  size_t unlogged_ = 0, total_ = 0;
};

}  // namespace tessera::net
