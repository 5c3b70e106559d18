#pragma once
// Classifies tiles as static (text, UI: must arrive exact) or motion (changing at a sustained
// rate: video, animation), with hysteresis so a tile does not flip every frame. A tile enters
// motion after changing in `enter_changes` of the last `enter_window` frames and leaves it after
// being still for long enough that its lossless repaint ("build to lossless") goes out no later
// than `lossless_after` after its last change.
#include <chrono>
#include <cstdint>
#include <vector>

#include "core/tile_diff.h"

namespace tessera {

struct ClassifierConfig {
  int enter_changes = 4;
  int enter_window = 6;  // at most 16
  std::chrono::milliseconds lossless_after{300};
  std::chrono::nanoseconds frame_interval{33'333'333};
};

class RegionClassifier {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RegionClassifier(ClassifierConfig cfg = {});
  void reset(size_t tiles);
  // `changed` marks the tiles that changed in this frame.
  void update(const std::vector<uint8_t>& changed, Clock::time_point now);
  const std::vector<uint8_t>& motion() const { return motion_; }
  const ClassifierConfig& config() const { return cfg_; }

 private:
  ClassifierConfig cfg_;
  std::chrono::nanoseconds hold_;
  uint16_t window_mask_;
  std::vector<uint16_t> history_;  // bit i set: changed i frames ago
  std::vector<uint8_t> motion_;
  std::vector<Clock::time_point> last_change_;
};

}  // namespace tessera
