#pragma once
// The bench's named workloads: deterministic desktops whose every frame is a pure function of
// its tick, so a run can be repeated bit for bit.
//   office     an editor being typed into, a log pane that scrolls, a blinking caret, a clock
//   video      a video window (a panning textured scene) on a still desktop with text
//   mixed      the demo desktop: a scrolling terminal, a video window, a moving pointer
//   drag       a window of text dragged around the desktop, with pauses
//   fullvideo  the video scene filling the whole screen
//   videostart the video workload's page, its player window opening at 1 s
//   videopause the video workload, paused from 1 s to 2 s
//   fullstart  a page of text filling the screen, full-screen video from 0.5 s
//   video:PATH a video file (FFmpeg), looped
//   trace:DIR  a recorded frame trace (PNG files, in name order; see `tessera record`)
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "capture/frame_source.h"
#include "core/frame_change.h"

namespace tessera::bench {

// What a built-in workload knows of itself, for the bench's motion-start and move figures
// (sources from files know nothing of this kind).
class WorkloadTruth {
 public:
  virtual ~WorkloadTruth() = default;
  // The pixels of playing video that changed from frame index-1 to index.
  virtual Region video_changed(uint64_t index) const = 0;
  // The window that moved from frame index-1 to index: where it is now, and where it was.
  virtual std::optional<Move> window_moved(uint64_t index) const = 0;
};

// The built-in workload names, in the order --help lists them.
const std::vector<std::string>& builtin_workloads();
// A source for a workload name or spec; throws std::invalid_argument with the reason.
std::unique_ptr<FrameSource> make_workload(const std::string& spec, Size size, double fps);

}  // namespace tessera::bench
