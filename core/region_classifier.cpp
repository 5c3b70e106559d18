#include "core/region_classifier.h"

#include <bit>
#include <stdexcept>

namespace tessera {

RegionClassifier::RegionClassifier(ClassifierConfig cfg) : cfg_(cfg) {
  if (cfg_.enter_window < 1 || cfg_.enter_window > 16 || cfg_.enter_changes < 1 ||
      cfg_.enter_changes > cfg_.enter_window)
    throw std::invalid_argument("classifier: need 1 <= enter_changes <= enter_window <= 16");
  window_mask_ = uint16_t((1u << cfg_.enter_window) - 1);
  // Leave motion one frame early, so the repaint is out by `lossless_after`.
  hold_ = std::max(std::chrono::nanoseconds(0), std::chrono::nanoseconds(cfg_.lossless_after) - cfg_.frame_interval);
}

void RegionClassifier::reset(size_t tiles) {
  history_.assign(tiles, 0);
  motion_.assign(tiles, 0);
  last_change_.assign(tiles, Clock::time_point{});
}

void RegionClassifier::update(const std::vector<uint8_t>& changed, Clock::time_point now) {
  for (size_t i = 0; i < history_.size(); ++i) {
    uint16_t h = uint16_t(history_[i] << 1) | (changed[i] ? 1 : 0);
    history_[i] = h;
    if (changed[i]) last_change_[i] = now;
    if (!motion_[i]) {
      if (std::popcount(unsigned(h & window_mask_)) >= cfg_.enter_changes) motion_[i] = 1;
    } else if (!changed[i] && now - last_change_[i] >= hold_) {
      motion_[i] = 0;
    }
  }
}

}  // namespace tessera
