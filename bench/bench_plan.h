#pragma once
// What one `tessera bench` invocation runs: the workloads, the frames, and the configurations
// (one, or the cartesian product of every swept setting), read from the command line and/or a
// TOML file. The command line wins where both give a setting.
//
// TOML (every key optional):
//   frames = 90              fps = 30              size = "1280x800"
//   workloads = ["office", "video", "video:/data/clip.mp4"]
//   baselines = true
//   [sweep]                  # each a value or a list
//   codec = ["h264", "vp9"]  backend = "ffmpeg"    preset = ["ultrafast", "veryfast"]
//   bitrate_kbps = [2000, 4000, 8000]              tile_size = [16, 32]
//   enter_changes = 4        enter_window = 6      lossless_after_ms = 300   min_motion_tiles = 12
//   threads = [1, 0]         # encoder threads; 0: the encoder's choice (not reproducible)
//   image_codec = ["auto", "glz", "lz4", "palette", "off"]   # lossless images (--image-codec)
//   moves = [true, false]   # scrolls and dragged windows as moves (false: --no-scroll-detection)
//   repaint_budget = ["auto", "off", "64"]   # ended streams' repaint per update (KB; --repaint-budget)
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/workloads.h"
#include "core/rect.h"

namespace tessera::bench {

// One configuration of the pipeline.
struct RunConfig {
  std::string codec = "h264";  // h264, vp9, vp8, h265, mjpeg, or "off" (everything lossless)
  std::string backend = "ffmpeg";
  std::string preset;  // empty: the encoder's lowest-latency one
  int bitrate_kbps = 8000;
  int tile_size = 32;
  int enter_changes = 4;
  int enter_window = 6;
  int lossless_after_ms = 300;
  int min_motion_tiles = 12;
  // Encoder threads: 1 (the bench's default) gives the same bytes on every run; 0 lets each
  // encoder choose as the server does (x264 sliced threads: faster, not reproducible).
  int threads = 1;
  std::string image_codec = "auto";  // lossless images: auto, glz, lz4, palette, off
  // Motion starts: the size of a dense area that is motion at its second change (0: off), and
  // whether one that looks like a picture is motion at its first (DamageTrackerConfig).
  int fast_motion_tiles = 48;
  bool picture_start = true;
  std::string repaint_budget = "auto";  // auto, off or KB per update (spice::parse_repaint_pacing)
  bool moves = true;  // the tracker looks for scrolled and moved content (serve's --no-scroll-detection)

  // "h264-ultrafast-8000k-t32" (+ classifier settings when not the defaults): unique in a sweep.
  std::string slug() const;
  // "h264 ultrafast 8000 kb/s, tile 32"
  std::string label() const;
  nlohmann::json to_json() const;
  // Throws std::invalid_argument naming the bad setting.
  void validate() const;
};

// Every swept setting as a list of values; the plan is their cartesian product.
struct Sweep {
  static constexpr size_t kMaxSweepRuns = 4096;  // combinations before duplicates are dropped
  std::vector<std::string> codec{"h264"}, backend{"ffmpeg"}, preset{""};
  std::vector<int> bitrate_kbps{8000}, tile_size{32}, enter_changes{4}, enter_window{6}, lossless_after_ms{300},
      min_motion_tiles{12}, threads{1};
  std::vector<std::string> image_codec{"auto"};
  std::vector<int> fast_motion_tiles{48};
  std::vector<bool> picture_start{true};
  std::vector<std::string> repaint_budget{"auto"};
  std::vector<bool> moves{true};
  // Throws std::invalid_argument for a bad setting, an empty list, or more than kMaxSweepRuns
  // combinations.
  std::vector<RunConfig> expand() const;
};

struct BenchPlan {
  std::vector<std::string> workloads = builtin_workloads();
  int frames = 90;
  double fps = 30;
  Size size{1280, 800};
  bool baselines = true;  // full-frame x264 and lossless-only, once per workload
  Sweep sweep;
  std::vector<RunConfig> configs() const { return sweep.expand(); }
};

// Reads a TOML plan; throws std::runtime_error with the file, line and reason.
void load_plan_toml(const std::string& path, BenchPlan& plan);
// "1280x800"; throws std::invalid_argument.
Size parse_size(const std::string& s);

}  // namespace tessera::bench
