#include "app/bench_command.h"

#include <filesystem>
#include <fstream>
#include <iostream>

#include "bench/bench_plan.h"
#include "bench/bench_runner.h"
#include "bench/report_html.h"
#include "bench/workloads.h"
#include "capture/trace_source.h"
#include "core/log.h"

namespace tessera {

void add_bench_commands(CLI::App& app, BenchCommand& c) {
  c.bench = app.add_subcommand(
      "bench",
      "Run workloads through the real pipeline offline and report latency per stage, bytes per region class, "
      "PSNR/SSIM per region class (decoded by FFmpeg), encoder speed and CPU, against full-frame x264 and "
      "lossless-only baselines. Writes report.json, report.csv and report.html into --out. Lists sweep: every "
      "combination runs.");
  auto* b = c.bench;
  b->add_option("--workload", c.workloads,
                "Workloads: office, video, mixed, drag, fullvideo, videostart (a video window opening at 1 s), "
                "videopause (paused from 1 s to 2 s), fullstart (full-screen video from 0.5 s), video:PATH (a video "
                "file), trace:DIR (PNG frames, see `tessera record`). Default: every built-in one")
      ->delimiter(',');
  b->add_option("--config", c.config_file, "TOML plan (frames, fps, size, workloads, baselines, [sweep] lists); "
                                          "options given here override it")
      ->check(CLI::ExistingFile);
  b->add_option("--frames", c.frames, "Frames per run (default 90)")->check(CLI::Range(1, 100000));
  b->add_option("--fps", c.fps, "Frame rate of the synthetic clock (default 30)")->check(CLI::Range(1.0, 240.0));
  b->add_option("--size", c.size, "Desktop size WxH for the built-in workloads (default 1280x800)");
  b->add_option("--codec", c.codecs, "Video codecs to sweep: h264, vp9, vp8, h265, mjpeg, off (all lossless)")
      ->delimiter(',');
  b->add_option("--backend", c.backends, "Encoder backends to sweep: ffmpeg, gstreamer")->delimiter(',');
  b->add_option("--preset", c.presets, "Encoder presets to sweep (x264: ultrafast, veryfast...; libvpx: 0-8)")
      ->delimiter(',');
  b->add_option("--bitrate", c.bitrates, "Video bitrates to sweep, kb/s (default 8000)")->delimiter(',');
  b->add_option("--tile-size", c.tile_sizes, "Damage tracker tile sizes to sweep (default 32)")->delimiter(',');
  b->add_option("--enter-changes", c.enter_changes, "Classifier: changes that make a tile motion (default 4)")
      ->delimiter(',');
  b->add_option("--enter-window", c.enter_window, "Classifier: ... within this many frames (default 6)")
      ->delimiter(',');
  b->add_option("--lossless-after", c.lossless_after, "Classifier: ms of stillness before a lossless repaint "
                                                      "(default 300)")
      ->delimiter(',');
  b->add_option("--min-motion-tiles", c.min_motion_tiles, "Smallest group of motion tiles sent as video "
                                                          "(default 12)")
      ->delimiter(',');
  b->add_option("--fast-motion-tiles", c.fast_motion_tiles,
                "Motion starts: a dense area of this many tiles changed twice in three frames is motion at once "
                "(default 48; 0: off)")
      ->delimiter(',');
  b->add_option("--picture-start", c.picture_start,
                "Motion starts: such an area that looks like a picture is motion at its first change: on "
                "(default), off")
      ->delimiter(',')
      ->check(CLI::IsMember({"on", "off"}));
  b->add_option("--moves", c.moves,
                "Scrolled text and dragged windows as moves (copy-bits): on (default), off (serve's "
                "--no-scroll-detection: what painting them costs)")
      ->delimiter(',')
      ->check(CLI::IsMember({"on", "off"}));
  b->add_option("--threads", c.threads, "Encoder threads to sweep: 1 (default) gives the same bytes on every run; "
                                        "0 lets each encoder choose as the server does")
      ->delimiter(',');
  b->add_option("--image-codec", c.image_codecs,
                "Lossless image forms to sweep (as serve's --image-codec): auto, glz, lz4, palette, off")
      ->delimiter(',');
  b->add_option("--repaint-budget", c.repaint_budgets,
                "Repaint of an ended stream's area per update to sweep (as serve's --repaint-budget): auto, off, "
                "or KB")
      ->delimiter(',');
  b->add_flag("--no-baselines", c.no_baselines, "Skip the full-frame x264 and lossless-only baselines");
  b->add_flag("--quick", c.quick,
              "A small plan that runs in seconds: office and video at 640x400, 30 frames, 1000 and 3000 kb/s");
  b->add_flag("--no-progress", c.no_progress, "No progress output on stderr");
  b->add_option("--out", c.out_dir, "Directory for report.json, report.csv and report.html")->capture_default_str();

  c.record = app.add_subcommand("record", "Record a frame trace (PNG files) from a source, for `tessera bench "
                                          "--workload trace:DIR`");
  c.record->add_option("--source", c.record_source, "demo, image:PATH, video:PATH, x11:DISPLAY, or a bench "
                                                   "workload (office, video, mixed, drag, fullvideo)")
      ->capture_default_str();
  c.record->add_option("--size", c.record_size, "Size WxH for sources that choose their own")->capture_default_str();
  c.record->add_option("--fps", c.record_fps, "Ticks per second")->capture_default_str()->check(CLI::Range(1.0, 240.0));
  c.record->add_option("--first", c.record_first, "First tick")->capture_default_str();
  c.record->add_option("--frames", c.record_frames, "Ticks to record")->capture_default_str()->check(CLI::Range(1, 100000));
  c.record->add_option("--out", c.record_out, "Directory to write frame-000000.png ... into")->required();
}

int run_bench(const BenchCommand& c, const std::string& command_line) {
  bench::BenchPlan plan;
  if (c.quick) {
    plan.workloads = {"office", "video"};
    plan.frames = 30;
    plan.size = {640, 400};
    plan.sweep.bitrate_kbps = {1000, 3000};
  }
  if (!c.config_file.empty()) bench::load_plan_toml(c.config_file, plan);
  if (!c.workloads.empty()) plan.workloads = c.workloads;
  if (c.frames) plan.frames = c.frames;
  if (c.fps > 0) plan.fps = c.fps;
  if (!c.size.empty()) plan.size = bench::parse_size(c.size);
  if (c.no_baselines) plan.baselines = false;
  auto& s = plan.sweep;
  if (!c.codecs.empty()) s.codec = c.codecs;
  if (!c.image_codecs.empty()) s.image_codec = c.image_codecs;
  if (!c.repaint_budgets.empty()) s.repaint_budget = c.repaint_budgets;
  if (!c.backends.empty()) s.backend = c.backends;
  if (!c.presets.empty()) s.preset = c.presets;
  if (!c.bitrates.empty()) s.bitrate_kbps = c.bitrates;
  if (!c.tile_sizes.empty()) s.tile_size = c.tile_sizes;
  if (!c.enter_changes.empty()) s.enter_changes = c.enter_changes;
  if (!c.enter_window.empty()) s.enter_window = c.enter_window;
  if (!c.lossless_after.empty()) s.lossless_after_ms = c.lossless_after;
  if (!c.min_motion_tiles.empty()) s.min_motion_tiles = c.min_motion_tiles;
  if (!c.threads.empty()) s.threads = c.threads;
  if (!c.fast_motion_tiles.empty()) s.fast_motion_tiles = c.fast_motion_tiles;
  if (!c.picture_start.empty()) {
    s.picture_start.clear();
    for (const auto& v : c.picture_start) s.picture_start.push_back(v == "on");
  }
  if (!c.moves.empty()) {
    s.moves.clear();
    for (const auto& v : c.moves) s.moves.push_back(v == "on");
  }
  // Fail on a bad workload or setting before any run starts.
  for (const auto& w : plan.workloads) bench::make_workload(w, plan.size, plan.fps);
  const auto configs = plan.configs();

  std::filesystem::create_directories(c.out_dir);
  std::cerr << "tessera bench: " << plan.workloads.size() << " workload(s) x " << configs.size()
            << " configuration(s)" << (plan.baselines ? " + baselines" : "") << ", " << plan.frames << " frames at "
            << plan.fps << " fps\n";
  bench::RunnerOptions ro;
  ro.command = command_line;
  ro.version = "0.1.0";
  ro.progress = !c.no_progress;
  nlohmann::json report = bench::run_plan(plan, ro);
  const std::string base = c.out_dir + "/report";
  std::ofstream(base + ".json") << report.dump(1) << "\n";
  std::ofstream(base + ".csv") << bench::report_csv(report);
  std::ofstream(base + ".html") << bench::render_html_report(report);
  std::cout << bench::report_summary(report) << "\nwrote " << base << ".json, " << base << ".csv and " << base
            << ".html\n";
  return 0;
}

int run_record(const BenchCommand& c) {
  bench::BenchPlan p;
  Size size = bench::parse_size(c.record_size);
  std::unique_ptr<FrameSource> src;
  const auto& builtin = bench::builtin_workloads();
  if (std::find(builtin.begin(), builtin.end(), c.record_source) != builtin.end() && c.record_source != "mixed") {
    src = bench::make_workload(c.record_source, size, c.record_fps);
  } else {
    SourceOptions o;
    o.size = size;
    o.fps = c.record_fps;
    src = make_frame_source(c.record_source == "mixed" ? "demo" : c.record_source, o);
  }
  record_trace(*src, c.record_first, c.record_frames, c.record_out);
  std::cout << "tessera: recorded " << c.record_frames << " frames of " << src->description() << " into "
            << c.record_out << "\n";
  return 0;
}

}  // namespace tessera
