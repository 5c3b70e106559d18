#pragma once
// Collects what the server logs, so tests can assert that a reason was given.
#include <spdlog/sinks/ringbuffer_sink.h>

#include <memory>
#include <string>

namespace tessera::test {

class LogCapture {
 public:
  LogCapture();
  ~LogCapture();
  // True once a logged line contains `needle`, waiting up to `timeout_ms`.
  bool wait_for(const std::string& needle, int timeout_ms = 5000) const;
  bool contains(const std::string& needle) const;
  std::string all() const;

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

}  // namespace tessera::test
