#pragma once
// `tessera bench` (the codec-tuning harness) and `tessera record` (frame traces for it).
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace tessera {

struct BenchCommand {
  CLI::App* bench = nullptr;
  CLI::App* record = nullptr;
  // bench
  std::vector<std::string> workloads, codecs, backends, presets, image_codecs, repaint_budgets;
  std::vector<int> bitrates, tile_sizes, enter_changes, enter_window, lossless_after, min_motion_tiles, threads,
      fast_motion_tiles;
  std::vector<std::string> picture_start, moves;
  std::string config_file, out_dir = "bench-report", size;
  int frames = 0;
  double fps = 0;
  bool quick = false, no_baselines = false, no_progress = false;
  // record
  std::string record_source = "demo", record_out, record_size = "1280x800";
  uint64_t record_first = 0, record_frames = 90;
  double record_fps = 30;
};

void add_bench_commands(CLI::App& app, BenchCommand& cmd);
int run_bench(const BenchCommand& cmd, const std::string& command_line);
int run_record(const BenchCommand& cmd);

}  // namespace tessera
