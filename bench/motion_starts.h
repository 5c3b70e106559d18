#pragma once
// The bench's figures for motion that starts and windows that move, from what a workload knows
// of itself (WorkloadTruth) and what each frame sent.
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/workloads.h"
#include "core/frame.h"

namespace tessera::bench {

struct SentFrame {
  uint64_t bytes = 0;        // everything sent for this frame
  uint64_t video_bytes = 0;  // of which video stream data
  bool video_shown = false;  // the client shows at least half of the frame's changed video as video
  bool video_played = false;  // the workload's video changed in this frame (WorkloadTruth)
  bool repaint_part = false;  // this frame carried (a part of) the repaint of an ended stream's area
};

// Per start of playing video (a frame whose video changed after one where it did not; frame 0,
// the first picture, is no start): at which of its changed frames video first reached the
// client (1 = the first), and the largest update in the half second from the start. Also the
// median video frame outside such windows, and the largest start update over it (the worst
// start). Per stop of the video (a frame whose video did not change after one where it did),
// until the next start: the largest update, how many updates carried the repaint of the area
// the stream left, and how long from its first part to the last. Null when the workload has
// no video.
nlohmann::json motion_start_figures(const std::vector<SentFrame>& frames, double fps);

// Of the pixels a dragged window moved that had to reach the client (those that differ from
// the previous frame: a flat part moved over itself needs nothing), the share it got as moves
// (copies from where the window was, at the window's offset). Accumulated frame by frame.
class MoveShare {
 public:
  void add(const WorkloadTruth& truth, uint64_t index, const std::vector<Move>& sent, const Frame& prev,
           const Frame& cur);
  // Null when nothing moved.
  nlohmann::json to_json() const;

 private:
  int64_t moved_ = 0, as_moves_ = 0;
  uint64_t frames_ = 0;
};

}  // namespace tessera::bench
