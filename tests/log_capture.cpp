#include "tests/log_capture.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

namespace tessera::test {

LogCapture::LogCapture() : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(4096)) {
  spdlog::default_logger()->sinks().push_back(sink_);
  spdlog::set_level(spdlog::level::debug);
}

LogCapture::~LogCapture() {
  auto& sinks = spdlog::default_logger()->sinks();
  std::erase(sinks, sink_);
}

bool LogCapture::contains(const std::string& needle) const {
  for (const auto& line : sink_->last_formatted())
    if (line.find(needle) != std::string::npos) return true;
  return false;
}

bool LogCapture::wait_for(const std::string& needle, int timeout_ms) const {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (contains(needle)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return contains(needle);
}

std::string LogCapture::all() const {
  std::string s;
  for (const auto& line : sink_->last_formatted()) s += line;
  return s;
}

}  // namespace tessera::test
