#include "transport/net/refusal_log.h"

#include "core/log.h"

namespace tessera::net {

void RefusalLog::note(const std::string& why, Clock::time_point now) {
  ++total_;
  if (last_ != Clock::time_point{} && now - last_ < std::chrono::seconds(1)) {
    ++unlogged_;
    return;
  }
  if (unlogged_)
    spdlog::warn("{}: {} (and {} more refusals in the last second)", prefix_, why, unlogged_);
  else
    spdlog::warn("{}: {}", prefix_, why);
  last_ = now;
  unlogged_ = 0;
}

}  // namespace tessera::net
