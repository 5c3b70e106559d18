#pragma once
// The bench's named workloads: deterministic desktops whose every frame is a pure function of
// its tick, so a run can be repeated bit for bit.
//   office     an editor being typed into, a log pane that scrolls, a blinking caret, a clock
//   video      a video window (a panning textured scene) on a still desktop with text
//   mixed      the demo desktop: a scrolling terminal, a video window, a moving pointer
//   drag       a window of text dragged around the desktop, with pauses
//   fullvideo  the video scene filling the whole screen
//   video:PATH a video file (FFmpeg), looped
//   trace:DIR  a recorded frame trace (PNG files, in name order; see `tessera record`)
#include <memory>
#include <string>
#include <vector>

#include "capture/frame_source.h"

namespace tessera::bench {

// The built-in workload names, in the order --help lists them.
const std::vector<std::string>& builtin_workloads();
// A source for a workload name or spec; throws std::invalid_argument with the reason.
std::unique_ptr<FrameSource> make_workload(const std::string& spec, Size size, double fps);

}  // namespace tessera::bench
