#include "transport/spice/repaint_budget.h"

#include <algorithm>
#include <charconv>
#include <limits>

namespace tessera::spice {

std::optional<RepaintPacing> parse_repaint_pacing(const std::string& text) {
  if (text == "auto") return RepaintPacing{};
  if (text == "off") return RepaintPacing{RepaintPacing::Mode::Off, 0};
  int64_t kb = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), kb);
  if (ec != std::errc() || end != text.data() + text.size() || kb < 1 || kb > 1024 * 1024) return std::nullopt;
  return RepaintPacing{RepaintPacing::Mode::Fixed, kb * 1024};
}

std::string to_string(const RepaintPacing& p) {
  switch (p.mode) {
    case RepaintPacing::Mode::Auto: return "auto";
    case RepaintPacing::Mode::Off: return "off";
    case RepaintPacing::Mode::Fixed: return std::to_string(p.fixed_bytes / 1024);
  }
  return "auto";
}

int64_t RepaintBudget::frame_bytes() const {
  const double secs = std::chrono::duration<double>(interval_).count();
  return std::max<int64_t>(1, int64_t(double(bitrate_kbps_) * 1000 / 8 * secs));
}

void RepaintBudget::clamp_level() {
  const int64_t top = std::max(kMinBytes, kMaxFrames * frame_bytes());
  level_ = std::clamp(level_, kMinBytes, top);
}

void RepaintBudget::set_stream(int bitrate_kbps, int fps) {
  bitrate_kbps_ = std::max(1, bitrate_kbps);
  interval_ = std::chrono::nanoseconds(1'000'000'000 / std::max(1, fps));
  if (level_ < 0) level_ = kStartFrames * frame_bytes();
  clamp_level();
}

void RepaintBudget::on_round_trip(Duration rtt) {
  if (level_ < 0) return;  // no stream yet: nothing to pace
  if (rtt > interval_)
    level_ /= 2;
  else if (rtt * 2 < interval_)
    level_ *= 2;
  clamp_level();
}

void RepaintBudget::on_late_frames() {
  if (level_ < 0) return;
  level_ /= 2;
  clamp_level();
}

int64_t RepaintBudget::bytes() const {
  switch (pacing_.mode) {
    case RepaintPacing::Mode::Off: return std::numeric_limits<int64_t>::max();
    case RepaintPacing::Mode::Fixed: return pacing_.fixed_bytes;
    case RepaintPacing::Mode::Auto: break;
  }
  return level_ < 0 ? std::max(kMinBytes, kStartFrames * frame_bytes()) : level_;
}

}  // namespace tessera::spice
