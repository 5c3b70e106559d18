// tessera bench: workloads, the plan (CLI/TOML), the offline pipeline and its client view,
// quality per region class, determinism, baselines and the report's shape.
#include <gtest/gtest.h>
#include <spice/enums.h>

#include <filesystem>
#include <fstream>

#include "bench/bench_plan.h"
#include "bench/bench_runner.h"
#include "bench/quality.h"
#include "transport/spice/client_view.h"
#include "bench/workloads.h"
#include "capture/trace_source.h"
#include "core/png_file.h"

using namespace tessera;
using namespace tessera::bench;
using nlohmann::json;

namespace {

std::string temp_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("tessera_bench_test_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d.string();
}

BenchPlan small_plan(std::vector<std::string> workloads, int frames = 40) {
  BenchPlan p;
  p.workloads = std::move(workloads);
  p.frames = frames;
  p.size = {640, 400};
  p.baselines = false;
  p.sweep.bitrate_kbps = {2000};
  return p;
}

RunnerOptions quiet() {
  RunnerOptions o;
  o.progress = false;
  return o;
}

// Everything but the wall-clock figures.
json without_timings(json run) {
  run.erase("stages");
  run["encoder"].erase("fps");
  run["encoder"].erase("cpu_s");
  run["encoder"].erase("wall_s");
  return run;
}

}  // namespace

TEST(BenchWorkloads, EveryBuiltInIsDeterministicAndChanges) {
  for (const std::string& name : builtin_workloads()) {
    SCOPED_TRACE(name);
    auto a = make_workload(name, {320, 200}, 30);
    auto b = make_workload(name, {320, 200}, 30);
    EXPECT_EQ(a->size(), (Size{320, 200}));
    auto f0 = a->capture(0), g0 = b->capture(0);
    EXPECT_TRUE(f0.frame->same_pixels(*g0.frame, f0.frame->bounds()));
    // Something changes within two seconds, and the damage covers every changed pixel.
    bool changed = false;
    FramePtr prev = f0.frame;
    for (uint64_t i = 1; i < 60; ++i) {
      auto c = a->capture(i);
      for (int32_t y = 0; y < c.frame->height(); ++y)
        for (int32_t x = 0; x < c.frame->width(); ++x)
          if (rgb_of(c.frame->pixel(x, y)) != rgb_of(prev->pixel(x, y))) {
            changed = true;
            ASSERT_TRUE(c.damage.contains(x, y)) << "tick " << i << " pixel " << x << "," << y << " not in damage";
          }
      prev = c.frame;
    }
    EXPECT_TRUE(changed);
  }
}

TEST(BenchWorkloads, UnknownNamesAndBadSizesAreRefused) {
  EXPECT_THROW(make_workload("spreadsheet", {640, 400}, 30), std::invalid_argument);
  EXPECT_THROW(make_workload("office", {10, 10}, 30), std::invalid_argument);
  EXPECT_THROW(make_workload("trace:/nonexistent/dir", {640, 400}, 30), std::runtime_error);
}

TEST(BenchPlan, SweepsAreCartesianAndSlugsUnique) {
  Sweep s;
  s.codec = {"h264", "vp9", "off"};
  s.bitrate_kbps = {1000, 4000};
  s.tile_size = {16, 32};
  auto cfgs = s.expand();
  // "off" ignores the bitrate: 2 codecs x 2 bitrates x 2 tiles + 2 lossless.
  ASSERT_EQ(cfgs.size(), 10u);
  std::set<std::string> slugs;
  for (const auto& c : cfgs) slugs.insert(c.slug());
  EXPECT_EQ(slugs.size(), cfgs.size());
  s.codec = {"h263"};
  EXPECT_THROW(s.expand(), std::invalid_argument);
  s.codec = {"h264"};
  s.enter_changes = {7};  // more than the window of 6
  EXPECT_THROW(s.expand(), std::invalid_argument);
}

TEST(BenchPlan, TomlFilesAreReadAndMistakesNamed) {
  std::string dir = temp_dir("toml");
  std::string good = dir + "/plan.toml";
  std::ofstream(good) << "frames = 12\nfps = 60\nsize = \"800x600\"\nworkloads = [\"office\", \"video\"]\n"
                         "baselines = false\n[sweep]\ncodec = [\"h264\", \"vp9\"]\nbitrate_kbps = [1000, 2000, 3000]\n"
                         "preset = \"ultrafast\"\ntile_size = 16\n";
  BenchPlan p;
  load_plan_toml(good, p);
  EXPECT_EQ(p.frames, 12);
  EXPECT_EQ(p.fps, 60);
  EXPECT_EQ(p.size, (Size{800, 600}));
  EXPECT_EQ(p.workloads, (std::vector<std::string>{"office", "video"}));
  EXPECT_FALSE(p.baselines);
  EXPECT_EQ(p.configs().size(), 6u);
  EXPECT_EQ(p.configs()[0].tile_size, 16);
  EXPECT_EQ(p.configs()[0].preset, "ultrafast");

  auto refused = [&](const std::string& text, const std::string& says) {
    std::string f = dir + "/bad.toml";
    std::ofstream(f) << text;
    BenchPlan q;
    try {
      load_plan_toml(f, q);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  };
  refused("frames = 10\nspeed = 3\n", "unknown setting 'speed'");
  refused("[sweep]\nbitrate_kbps = \"fast\"\n", "'bitrate_kbps' must be an integer");
  refused("[sweep]\ncolour = 1\n", "unknown setting 'sweep.colour'");
  refused("frames = [\n", "bad.toml:");  // a parse error names the file and line
  refused("size = \"big\"\n", "size 'big'");
  std::filesystem::remove_all(dir);
}

TEST(BenchQuality, ClassesSplitErrorAndIdenticalIsExact) {
  Frame a(64, 48), b(64, 48);
  a.fill(a.bounds(), bgrx(10, 20, 30));
  b.fill(b.bounds(), bgrx(10, 20, 30));
  FrameComparer cmp;
  auto same = cmp.compare(a, b, Region(Rect{0, 0, 32, 48}));
  EXPECT_TRUE(same.stat.exact());
  EXPECT_TRUE(same.motion.exact());
  EXPECT_EQ(same.stat.pixels + same.motion.pixels, 64u * 48u);
  EXPECT_DOUBLE_EQ(same.all.ssim(), 1.0);
  b.set_pixel(5, 5, bgrx(13, 20, 30));  // inside the motion part: off by 3 in red
  auto one = cmp.compare(a, b, Region(Rect{0, 0, 32, 48}));
  EXPECT_TRUE(one.stat.exact());
  EXPECT_FALSE(one.motion.exact());
  EXPECT_EQ(one.motion.sse, 9.0);
  EXPECT_EQ(one.motion.max_abs_diff, 3);
  EXPECT_NEAR(one.motion.psnr(), 10 * std::log10(255.0 * 255.0 / (9.0 / (3.0 * 32 * 48))), 1e-9);
  EXPECT_LT(one.motion.ssim(), 1.0);
  ClassQuality run;
  run.add_frame(same.motion);
  run.add_frame(one.motion);
  EXPECT_EQ(run.frames, 2u);
  EXPECT_EQ(run.frames_not_exact, 1u);
  EXPECT_TRUE(run.to_json()["psnr_db"].is_number());
  EXPECT_TRUE(same.stat.to_json()["psnr_db"].is_null());  // exact: infinite, written as null
}

TEST(ClientView, MalformedMessagesAreRefused) {
  spice::ClientView v;
  std::vector<uint8_t> junk{1, 2, 3};
  EXPECT_THROW(v.apply(SPICE_MSG_DISPLAY_DRAW_COPY, junk), std::runtime_error);  // before any surface
  std::vector<uint8_t> create{0, 0, 0, 0, 64, 0, 0, 0, 48, 0, 0, 0, 32, 0, 0, 0, 0, 0, 0, 0};
  v.apply(SPICE_MSG_DISPLAY_SURFACE_CREATE, create);
  EXPECT_TRUE(v.has_surface());
  EXPECT_THROW(v.apply(SPICE_MSG_DISPLAY_DRAW_COPY, junk), std::runtime_error);  // truncated
  std::vector<uint8_t> data{9, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0xff};
  EXPECT_THROW(v.apply(SPICE_MSG_DISPLAY_STREAM_DATA, data), std::runtime_error);  // no stream 9
}

// The acceptance test of the issue: the same configuration gives the same bytes and metrics twice.
TEST(BenchRun, SameConfigurationSameBytesAndMetricsTwice) {
  BenchPlan p = small_plan({"mixed", "drag"});
  json a = run_plan(p, quiet()), b = run_plan(p, quiet());
  ASSERT_EQ(a["runs"].size(), 2u);
  for (size_t i = 0; i < a["runs"].size(); ++i) {
    SCOPED_TRACE(a["runs"][i]["id"].get<std::string>());
    EXPECT_EQ(a["runs"][i]["digest"], b["runs"][i]["digest"]);
    EXPECT_EQ(a["runs"][i]["bytes"], b["runs"][i]["bytes"]);
    EXPECT_EQ(without_timings(a["runs"][i]), without_timings(b["runs"][i]));
  }
  // The mixed desktop streams its video window; a drag moves the window instead of repainting it.
  EXPECT_GT(a["runs"][0]["encoder"]["frames"].get<int>(), 10);
  EXPECT_GT(a["runs"][1]["moves"].get<int>(), 5);
}

// What the client shows: static regions exact on every workload, video above a PSNR floor.
TEST(BenchRun, StaticRegionsArriveExactAndVideoAboveAFloor) {
  BenchPlan p = small_plan(builtin_workloads(), 45);
  json r = run_plan(p, quiet());
  ASSERT_EQ(r["runs"].size(), builtin_workloads().size());
  for (const json& run : r["runs"]) {
    SCOPED_TRACE(run["id"].get<std::string>());
    const json& s = run["quality"]["static"];
    EXPECT_TRUE(s["exact"].get<bool>()) << s.dump();
    EXPECT_EQ(s["frames_not_exact"].get<int>(), 0);
    const json& m = run["quality"]["motion"];
    if (m["pixels"].get<uint64_t>() > 0) {
      EXPECT_GT(m["psnr_db"].get<double>(), 28.0);
      EXPECT_GT(m["ssim"].get<double>(), 0.85);
    }
    EXPECT_EQ(run["timeline"].size(), 45u);
    for (const char* st : {"capture", "diff", "classify", "marshal", "total"}) EXPECT_TRUE(run["stages"].contains(st)) << st;
  }
  // Video workloads do stream.
  for (const json& run : r["runs"])
    if (run["workload"] == "video" || run["workload"] == "fullvideo") {
      EXPECT_GT(run["quality"]["motion"]["pixels"].get<uint64_t>(), 0u) << run["id"];
    }
}

TEST(BenchWorkloads, ScenesKnowWhereVideoPlaysAndWindowsMove) {
  auto start = make_workload("videostart", {640, 400}, 30);
  const auto* t = dynamic_cast<const WorkloadTruth*>(start.get());
  ASSERT_NE(t, nullptr);
  EXPECT_TRUE(t->video_changed(29).empty());
  EXPECT_FALSE(t->video_changed(30).empty());  // the player opens at 1 s
  EXPECT_FALSE(t->window_moved(30));
  auto pause = make_workload("videopause", {640, 400}, 30);
  t = dynamic_cast<const WorkloadTruth*>(pause.get());
  EXPECT_FALSE(t->video_changed(30).empty());
  EXPECT_TRUE(t->video_changed(31).empty());  // paused from 1 s to 2 s
  EXPECT_FALSE(t->video_changed(61).empty());
  auto drag = make_workload("drag", {640, 400}, 30);
  t = dynamic_cast<const WorkloadTruth*>(drag.get());
  auto m = t->window_moved(5);
  ASSERT_TRUE(m);
  EXPECT_NE(m->dst.x - m->src_x, 0);
  EXPECT_FALSE(t->window_moved(75));  // held still in its third second
  EXPECT_EQ(dynamic_cast<const WorkloadTruth*>(make_workload("mixed", {640, 400}, 30).get()), nullptr);
}

// The figures for motion that starts and windows that move: video reaches the client within
// three changed frames of its start with no burst, and a drag goes as moves.
TEST(BenchRun, MotionStartsAndMovedWindowsAreMeasured) {
  BenchPlan p = small_plan({"videostart", "fullstart", "drag"}, 60);
  json r = run_plan(p, quiet());
  ASSERT_EQ(r["runs"].size(), 3u);
  for (int k = 0; k < 2; ++k) {
    const json& run = r["runs"][size_t(k)];
    SCOPED_TRACE(run["id"].get<std::string>());
    const json& m = run["motion_starts"];
    ASSERT_TRUE(m.is_object());
    ASSERT_EQ(m["starts"].size(), 1u);
    const json& st = m["starts"][0];
    EXPECT_EQ(st["frame"].get<int>(), k == 0 ? 30 : 15);
    ASSERT_FALSE(st["video_at_change"].is_null());
    EXPECT_LE(st["video_at_change"].get<int>(), 3);
    EXPECT_LE(m["largest_vs_stream_frame"].get<double>(), 4.0);
  }
  const json& drag = r["runs"][2];
  EXPECT_TRUE(drag["motion_starts"].is_null());
  ASSERT_TRUE(drag["moved"].is_object());
  EXPECT_GT(drag["moved"]["frames"].get<int>(), 20);
  EXPECT_GE(drag["moved"]["share"].get<double>(), 0.9);
  EXPECT_NE(report_summary(r).find("sent as moves"), std::string::npos);
}

// The motion-start settings sweep: without the picture start, a video window that opens waits
// for its second change.
TEST(BenchRun, PictureStartSweeps) {
  BenchPlan p = small_plan({"videostart"}, 50);
  p.sweep.picture_start = {true, false};
  json r = run_plan(p, quiet());
  ASSERT_EQ(r["runs"].size(), 2u);
  EXPECT_EQ(r["runs"][0]["motion_starts"]["starts"][0]["video_at_change"].get<int>(), 1);
  EXPECT_GE(r["runs"][1]["motion_starts"]["starts"][0]["video_at_change"].get<int>(), 2);
  EXPECT_EQ(r["runs"][1]["config"]["picture_start"], false);
  EXPECT_NE(r["runs"][1]["label"].get<std::string>().find("no picture start"), std::string::npos);
}

// A dragged window sent as moves costs a fraction of painting it losslessly (video and moves
// off), exact either way; with video on and no moves it would be streamed.
TEST(BenchRun, DragAsMovesCostsAFractionOfPaintingIt) {
  BenchPlan p = small_plan({"drag"}, 60);
  p.sweep.codec = {"h264", "off"};
  p.sweep.moves = {true, false};
  json r = run_plan(p, quiet());
  ASSERT_EQ(r["runs"].size(), 4u);
  auto find = [&](const std::string& codec, bool moves) {
    for (const json& run : r["runs"])
      if (run["config"]["codec"] == codec && run["config"]["moves"] == moves) return run;
    ADD_FAILURE() << codec << " moves " << moves;
    return json();
  };
  const json moved = find("h264", true), painted = find("off", false);
  ASSERT_FALSE(moved.is_null() || painted.is_null());
  EXPECT_NE(painted["label"].get<std::string>().find("no moves"), std::string::npos);
  EXPECT_TRUE(moved["quality"]["static"]["exact"].get<bool>());
  EXPECT_TRUE(painted["quality"]["static"]["exact"].get<bool>());
  EXPECT_GE(moved["moved"]["share"].get<double>(), 0.9);
  EXPECT_EQ(painted["moved"]["share"].get<double>(), 0.0);
  EXPECT_LE(moved["bytes"]["total"].get<double>(), 0.5 * painted["bytes"]["total"].get<double>());
}

// When a video stops, the repaint of its stream's area goes in parts of about two stream
// frames; with pacing off it is one large update. The picture ends exact in both.
TEST(BenchRun, RepaintAfterAStreamIsPaced) {
  BenchPlan p = small_plan({"videopause"}, 60);
  p.sweep.repaint_budget = {"auto", "off"};
  json r = run_plan(p, quiet());
  ASSERT_EQ(r["runs"].size(), 2u);
  const json& paced = r["runs"][0]["motion_starts"]["stops"];
  const json& at_once = r["runs"][1]["motion_starts"]["stops"];
  ASSERT_EQ(paced.size(), 1u);
  ASSERT_EQ(at_once.size(), 1u);
  EXPECT_EQ(paced[0]["frame"].get<int>(), 31);
  EXPECT_GE(paced[0]["repaint_updates"].get<int>(), 2);
  EXPECT_LE(paced[0]["largest_vs_stream_frame"].get<double>(), 4.0);
  EXPECT_EQ(at_once[0]["repaint_updates"].get<int>(), 0);
  EXPECT_GT(at_once[0]["largest_update_bytes"].get<double>(), 1.5 * paced[0]["largest_update_bytes"].get<double>());
  for (const json& run : r["runs"]) EXPECT_TRUE(run["quality"]["static"]["exact"].get<bool>()) << run["id"];
  EXPECT_NE(report_summary(r).find("stop at frame"), std::string::npos);
}

// A tiny sweep with both baselines, as CI runs it: run counts, comparisons and the CSV.
TEST(BenchRun, TinySweepWithBaselines) {
  BenchPlan p = small_plan({"video"}, 30);
  p.baselines = true;
  p.sweep.codec = {"h264", "vp9"};
  p.sweep.bitrate_kbps = {1000, 3000};
  json r = run_plan(p, quiet());
  // 4 Tessera runs, 1 lossless baseline, 2 full-frame x264 baselines (one per bitrate).
  ASSERT_EQ(r["runs"].size(), 7u);
  int lossless = 0, x264 = 0;
  for (const json& run : r["runs"]) {
    lossless += run["kind"] == "baseline_lossless";
    x264 += run["kind"] == "baseline_x264";
  }
  EXPECT_EQ(lossless, 1);
  EXPECT_EQ(x264, 2);
  EXPECT_EQ(r["comparisons"].size(), 8u);
  for (const json& c : r["comparisons"]) {
    EXPECT_GT(c["bytes_ratio"].get<double>(), 0.0);
    if (c["baseline_kind"] == "baseline_lossless") {
      EXPECT_LT(c["bytes_ratio"].get<double>(), 1.0) << c.dump();
    }
  }
  // Full-frame x264 blurs the static page; Tessera keeps it exact.
  for (const json& run : r["runs"])
    if (run["kind"] == "baseline_x264") {
      EXPECT_FALSE(run["quality"]["static"]["exact"].get<bool>());
    }
  std::string csv = report_csv(r);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 8);
  EXPECT_NE(report_summary(r).find("full-frame x264"), std::string::npos);
}

TEST(BenchRun, RecordedTracesPlayBack) {
  std::string dir = temp_dir("trace");
  auto office = make_workload("office", {320, 200}, 30);
  record_trace(*office, 0, 20, dir);
  TraceSource t(dir);
  EXPECT_EQ(t.frames(), 20u);
  EXPECT_EQ(t.size(), (Size{320, 200}));
  auto again = make_workload("office", {320, 200}, 30);
  for (uint64_t i : {0u, 7u, 19u}) {
    auto f = t.capture(i).frame;
    EXPECT_TRUE(f->same_pixels(*again->capture(i).frame, f->bounds())) << i;
  }
  EXPECT_TRUE(t.capture(25).damage.empty());  // past the end: the last frame holds
  BenchPlan p = small_plan({"trace:" + dir}, 25);
  json r = run_plan(p, quiet());
  EXPECT_TRUE(r["runs"][0]["quality"]["static"]["exact"].get<bool>());
  EXPECT_EQ(r["runs"][0]["width"], 320);
  // A frame of another size is refused by name.
  write_png(Frame(10, 10), dir + "/frame-000005.png");
  TraceSource bad(dir);
  try {
    for (uint64_t i = 0; i < 10; ++i) bad.capture(i);
    ADD_FAILURE() << "a frame of another size played";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("frame-000005.png"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  EXPECT_THROW(TraceSource{dir}, std::runtime_error);  // no frames
  std::filesystem::remove_all(dir);
}

TEST(BenchPlan, ASweepOfTooManyRunsIsRefusedBeforeItIsBuilt) {
  Sweep s;
  s.bitrate_kbps = {1000, 2000, 3000, 4000};
  s.tile_size = {16, 32, 64};
  s.enter_changes = {2, 3, 4};
  s.enter_window = {6, 7, 8};
  s.lossless_after_ms = {100, 200, 300};
  s.min_motion_tiles = {4, 8, 12};
  s.fast_motion_tiles = {0, 24, 48};
  EXPECT_EQ(s.expand().size(), 4u * 3 * 3 * 3 * 3 * 3 * 3);  // 2,916: within the limit
  s.picture_start = {true, false};  // 5,832 combinations
  try {
    s.expand();
    ADD_FAILURE() << "5,832 runs were expanded";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "the sweep combines to more than 4096 runs: shorten its lists");
  }
  // Fifteen lists of 20 would overflow a plain product.
  Sweep huge;
  huge.bitrate_kbps.assign(20, 1000);
  huge.tile_size.assign(20, 32);
  huge.enter_changes.assign(20, 4);
  huge.threads.assign(20, 1);
  EXPECT_THROW(huge.expand(), std::invalid_argument);
}
