#pragma once
// The damage tracker: compares each new frame, in tiles, with what viewers have (the frames
// so far as the tracker reported them), recognises content that scrolled, and classifies what
// changed as static or motion. Static damage is reported as exactly the changed pixels' boxes,
// not whole tiles. A source's damage hints narrow the search, but every
// `full_scan_interval` frames the whole frame is compared anyway: since the reference only
// takes reported changes, a change the source forgot is caught within that many frames.
#include <chrono>
#include <memory>

#include "core/frame.h"
#include "core/frame_change.h"
#include "core/region_classifier.h"
#include "core/tile_diff.h"
#include "core/tile_diff_accelerator.h"

namespace tessera {

struct DamageTrackerConfig {
  int32_t tile_size = 32;
  int full_scan_interval = 30;  // frames; 1 = ignore hints entirely
  bool detect_scroll = true;
  int32_t min_scroll_rows = 24;
  // Motion needs this many connected tiles: a pointer, a spinner or a blinking caret stays
  // static (lossless), since it is cheap to send exactly.
  int min_motion_tiles = 12;
  // A dense area of at least this many tiles that changed now and in one of the two frames
  // before joins motion at once (video starting), without waiting for `enter_changes`. 0: off.
  int fast_motion_tiles = 48;
  // Such an area that looks like a picture (many colours, no flat background) is motion at its
  // first change: a video window opening streams at once; if it stays still it is repainted
  // losslessly after `lossless_after`. Text and UI wait for the second change.
  bool pictorial_start = true;
  ClassifierConfig classifier;
  // Runs full-frame diffs and the classifier elsewhere (the GPU) when set; same answers. With
  // one, hints are ignored and every frame is a full scan, so the reference always equals the
  // frame the accelerator holds; the first frame (and any after a size change) is diffed on
  // the CPU. One accelerator serves one tracker.
  std::shared_ptr<TileDiffAccelerator> accelerator;
};

class DamageTracker {
 public:
  using Clock = std::chrono::steady_clock;
  explicit DamageTracker(DamageTrackerConfig cfg = {});

  // What changed from the previous frame to `frame`; the first frame, and any size change, is
  // all damage. `hints` (may be null) is what the source says changed.
  FrameChange update(const FramePtr& frame, const Region* hints, Clock::time_point now);

  const TileGrid& grid() const { return grid_; }
  // Every tile currently classified as motion, changed this frame or not.
  Region motion_area() const;
  const DamageTrackerConfig& config() const { return cfg_; }
  // Where the last update() spent its time (bench/ reports these per stage).
  struct StageTimes {
    std::chrono::nanoseconds diff{}, scroll{}, classify{};
  };
  const StageTimes& last_stage_times() const { return times_; }
  // The tiles changed in the last update() (1 = changed), on grid().
  const std::vector<uint8_t>& changed_tiles() const { return changed_; }
  // Tiles in motion now (in groups of at least min_motion_tiles), on grid().
  const std::vector<uint8_t>& motion_tiles() const { return motion_mask_; }
  // Frames whose diff ran on the accelerator; whether one is still in use (it is dropped, with a
  // logged reason, when it fails).
  uint64_t accelerated_frames() const { return accelerated_frames_; }
  bool accelerated() const { return accel_ != nullptr; }

 private:
  void find_moves(const Frame& cur, FrameChange& out);
  // What to paint: whole tiles for motion and repaints, exact boxes for static changes.
  Region exact_damage(const Frame& cur, const std::vector<uint8_t>& paint, const std::vector<uint8_t>& moving,
                      const std::vector<uint8_t>& refresh);
  void update_motion_mask(const Frame& cur, Clock::time_point now);
  Clock::duration classifier_hold() const;
  bool diff_accelerated(const Frame& f);
  void classify(Clock::time_point now);
  void accel_reset(const Frame& f, bool upload);
  void drop_accelerator(const char* what, const std::exception& e);

  DamageTrackerConfig cfg_;
  TileGrid grid_;
  RegionClassifier classifier_;
  Frame ref_;            // what a viewer that applied every reported change shows
  bool have_ref_ = false;
  FramePtr last_;        // the frame of the previous update
  bool in_sync_ = false; // ref_ equals last_ exactly (the last scan was a full one)
  std::vector<uint8_t> changed_, seen_;
  std::vector<uint8_t> raw_changed_;  // changed_ before moves were found
  std::vector<uint8_t> activity_;     // changed_ less what moves explain: what is classified
  std::vector<uint8_t> motion_mask_, prev_motion_mask_;  // motion tiles in large enough groups
  std::vector<uint8_t> recent_;           // per tile: changed (before moves) in the frames before (bit 0: the last)
  std::vector<Clock::time_point> fast_until_;  // per tile: motion by fast entry until then
  std::vector<uint8_t> fast_scratch_, motion_scratch_;
  uint64_t frames_ = 0;  // sets the full-scan cadence
  std::shared_ptr<TileDiffAccelerator> accel_;
  bool accel_holds_last_ = false;  // the accelerator's reference is last_
  std::vector<uint8_t> accel_motion_;
  uint64_t accelerated_frames_ = 0;
  StageTimes times_;
};

}  // namespace tessera
