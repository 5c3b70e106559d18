#include "bench/bench_runner.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <spice/enums.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include "bench/motion_starts.h"
#include "bench/quality.h"
#include "transport/spice/client_view.h"
#include "bench/workloads.h"
#include "core/damage_tracker.h"
#include "core/frame_clock.h"
#include "encode/color_convert.h"
#include "encode/encoder_catalog.h"
#include "transport/spice/display_update_writer.h"

namespace tessera::bench {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

double ms(std::chrono::nanoseconds d) { return std::chrono::duration<double, std::milli>(d).count(); }
double r3(double v) { return std::isfinite(v) ? std::round(v * 1000.0) / 1000.0 : 0.0; }

// Incremental SHA-256 of everything a run produced.
class Digest {
 public:
  Digest() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~Digest() { EVP_MD_CTX_free(ctx_); }
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;
  void add(uint32_t tag, std::span<const uint8_t> data) {
    uint8_t head[8];
    for (int i = 0; i < 4; ++i) head[i] = uint8_t(tag >> (8 * i));
    for (int i = 0; i < 4; ++i) head[4 + i] = uint8_t(data.size() >> (8 * i));
    EVP_DigestUpdate(ctx_, head, sizeof head);
    EVP_DigestUpdate(ctx_, data.data(), data.size());
  }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_, md, &n);
    std::string s;
    for (unsigned i = 0; i < n; ++i) s += fmt::format("{:02x}", md[i]);
    return s;
  }

 private:
  EVP_MD_CTX* ctx_;
};

// Per-frame samples of one stage, reported as percentiles and a histogram.
json stage_json(std::vector<double> v) {
  if (v.empty()) return nullptr;
  std::sort(v.begin(), v.end());
  auto pct = [&](double p) { return v[std::min(v.size() - 1, size_t(std::ceil(p / 100.0 * double(v.size()))) - 1)]; };
  double sum = 0;
  for (double x : v) sum += x;
  double hi = v.back() > 0 ? v.back() : 1e-3;
  constexpr int kBins = 24;
  std::vector<double> edges;
  std::vector<uint64_t> counts(kBins, 0);
  for (int i = 0; i <= kBins; ++i) edges.push_back(r3(hi * i / kBins + (i == kBins ? 1e-9 : 0)));
  for (double x : v) counts[size_t(std::clamp(int(x / hi * kBins), 0, kBins - 1))]++;
  return {{"mean_ms", r3(sum / double(v.size()))}, {"p50_ms", r3(pct(50))}, {"p95_ms", r3(pct(95))},
          {"p99_ms", r3(pct(99))},  {"max_ms", r3(v.back())},             {"samples", v.size()},
          {"histogram", {{"edges_ms", edges}, {"counts", counts}}}};
}

// What the bench keeps of every frame of a Tessera run, so baselines can be judged on the same
// region classes.
struct FrameClasses {
  std::vector<Region> video;  // per frame: pixels the client showed as video
};

struct ClassBytes {
  uint64_t stat = 0, motion = 0, moves = 0, control = 0;
  uint64_t total() const { return stat + motion + moves + control; }
};

json bytes_json(const ClassBytes& b, double seconds) {
  auto kbps = [&](uint64_t n) { return r3(seconds > 0 ? double(n) * 8.0 / 1000.0 / seconds : 0.0); };
  return {{"bytes", {{"static", b.stat}, {"motion", b.motion}, {"moves", b.moves}, {"control", b.control},
                     {"total", b.total()}}},
          {"kbps", {{"static", kbps(b.stat)}, {"motion", kbps(b.motion)}, {"moves", kbps(b.moves)},
                    {"control", kbps(b.control)}, {"total", kbps(b.total())}}}};
}

struct EncoderTotals {
  std::string name;
  uint64_t frames = 0, keyframes = 0, streams = 0;
  std::chrono::nanoseconds time{}, cpu{};
};

// The figures every run reports, from what it accumulated frame by frame.
void add_results(json& run, std::map<std::string, std::vector<double>>& st, const ClassBytes& bytes, double seconds,
                 const ClassQuality& q_stat, const ClassQuality& q_motion, const ClassQuality& q_all,
                 const EncoderTotals& enc, uint64_t moves, Digest& digest, json timeline) {
  json stages = json::object();
  for (const char* s : {"capture", "diff", "scroll", "classify", "convert", "encode", "lossless", "marshal", "total"})
    if (st.count(s)) stages[s] = stage_json(st[s]);
  run["stages"] = stages;
  json b = bytes_json(bytes, seconds);
  run["bytes"] = b["bytes"];
  run["kbps"] = b["kbps"];
  run["quality"] = {{"static", q_stat.to_json()}, {"motion", q_motion.to_json()}, {"all", q_all.to_json()}};
  double enc_s = std::chrono::duration<double>(enc.time).count();
  run["encoder"] = {{"name", enc.name},
                    {"frames", enc.frames},
                    {"fps", r3(enc_s > 0 ? double(enc.frames) / enc_s : 0.0)},
                    {"cpu_s", r3(std::chrono::duration<double>(enc.cpu).count())},
                    {"wall_s", r3(enc_s)},
                    {"keyframes", enc.keyframes},
                    {"streams", enc.streams}};
  run["moves"] = moves;
  run["digest"] = digest.hex();
  run["timeline"] = std::move(timeline);
}

// Encoders are probed once per backend and codec and shared by every run.
class Catalogs {
 public:
  std::shared_ptr<const EncoderCatalog> get(EncoderBackend backend, VideoCodec codec) {
    auto key = std::make_pair(backend, codec);
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    EncoderCatalogOptions o;
    o.backend = backend;
    o.codecs = {codec};
    auto cat = std::make_shared<const EncoderCatalog>(EncoderCatalog::probe(o));
    if (!cat->selected(codec))
      throw std::runtime_error(fmt::format("no {} encoder works through {}", to_string(codec), to_string(backend)));
    cache_[key] = cat;
    return cat;
  }

 private:
  std::map<std::pair<EncoderBackend, VideoCodec>, std::shared_ptr<const EncoderCatalog>> cache_;
};

Clock::time_point tick_time(uint64_t i, double fps) {
  // Well away from the clock's epoch, so "long ago" stays representable.
  return Clock::time_point(std::chrono::hours(1)) +
         std::chrono::nanoseconds(int64_t(std::llround(double(i) * 1e9 / fps)));
}

struct RunContext {
  const BenchPlan& plan;
  Progress& progress;
  Catalogs& catalogs;
};

json run_header(const std::string& workload, const std::string& kind, const std::string& slug, const std::string& label,
                const BenchPlan& plan, Size size) {
  double seconds = double(plan.frames) / plan.fps;
  return {{"id", workload + "/" + kind + "/" + slug},
          {"workload", workload},
          {"kind", kind},
          {"label", label},
          {"frames", plan.frames},
          {"fps", plan.fps},
          {"width", size.width},
          {"height", size.height},
          {"seconds", r3(seconds)}};
}

// Tessera's own pipeline (or, with codec "off", the lossless-only baseline).
json run_tessera(RunContext& ctx, const std::string& workload, const RunConfig& cfg, const std::string& kind,
                 FrameClasses* classes_out) {
  const BenchPlan& plan = ctx.plan;
  auto source = make_workload(workload, plan.size, plan.fps);
  const Size size = source->size();

  DamageTrackerConfig tc;
  tc.tile_size = cfg.tile_size;
  tc.min_motion_tiles = cfg.min_motion_tiles;
  tc.fast_motion_tiles = cfg.fast_motion_tiles;
  tc.pictorial_start = cfg.picture_start;
  tc.detect_scroll = cfg.moves;
  tc.classifier.enter_changes = cfg.enter_changes;
  tc.classifier.enter_window = cfg.enter_window;
  tc.classifier.lossless_after = std::chrono::milliseconds(cfg.lossless_after_ms);
  tc.classifier.frame_interval = std::chrono::nanoseconds(int64_t(1e9 / plan.fps));
  DamageTracker tracker(tc);

  spice::VideoSettings vs;
  std::string encoder_label = "none";
  if (cfg.codec != "off") {
    VideoCodec codec = *parse_video_codec(cfg.codec);
    vs.encoders = ctx.catalogs.get(*parse_encoder_backend(cfg.backend), codec);
    vs.codecs = {codec};
    encoder_label = vs.encoders->selected(codec)->label();
  } else {
    vs.codecs.clear();
  }
  vs.preset = cfg.preset;
  vs.encoder_threads = cfg.threads;
  vs.bitrate_kbps = std::max(cfg.bitrate_kbps, 1);
  vs.fps_max = std::max(1, int(std::lround(plan.fps)));
  Clock::time_point now = tick_time(0, plan.fps);
  vs.mm_clock = [&now] {
    return uint32_t(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
  };

  struct Sent {
    uint16_t type;
    spice::Body body;
  };
  std::vector<Sent> outbox;
  // A client like spice-gtk: every codec, sized streams, LZ4; no stream reports (offline).
  auto caps = [](unsigned cap) { return cap != SPICE_DISPLAY_CAP_STREAM_REPORT; };
  spice::DisplayUpdateWriter writer(
      vs, *spice::parse_image_codec(cfg.image_codec), caps, nullptr,
      [&](uint16_t type, const spice::Body& b) { outbox.push_back({type, b}); }, "bench " + workload);
  // What spice-gtk announces in DISPLAY_INIT: an 80 MiB pixmap cache and a 12 MiB GLZ window.
  writer.set_client_cache(20 * 1024 * 1024, 3 * 1024 * 1024);
  writer.set_repaint_pacing(*spice::parse_repaint_pacing(cfg.repaint_budget));

  spice::ClientView view;
  FrameComparer comparer;
  ClassQuality q_stat, q_motion, q_all;
  ClassBytes bytes;
  Digest digest;
  std::map<std::string, std::vector<double>> st;
  json timeline = json::array();
  uint64_t prev_encoded = 0, prev_repaint_parts = 0;
  std::chrono::nanoseconds prev_convert{}, prev_encode{}, prev_lossless{};
  uint64_t moves_total = 0;
  const auto* truth = dynamic_cast<const WorkloadTruth*>(source.get());
  std::vector<SentFrame> sent;
  MoveShare move_share;
  FramePtr prev_frame;

  ctx.progress.begin_run(workload + " " + cfg.label(), uint64_t(plan.frames));
  for (int i = 0; i < plan.frames; ++i) {
    now = tick_time(uint64_t(i), plan.fps);
    auto t0 = Clock::now();
    CapturedFrame cap = source->capture(uint64_t(i));
    auto t1 = Clock::now();
    FrameChange change = tracker.update(cap.frame, &cap.damage, now);
    auto t2 = Clock::now();
    outbox.clear();
    if (i == 0 || !change.damage.empty() || !change.moves.empty()) {
      Subscription::FrameUpdate u;
      u.frame = cap.frame;
      u.moves = change.moves;
      u.damage = change.damage;
      u.motion = change.motion;
      u.motion_area = change.motion_area;
      writer.update(u, now);
    } else {
      writer.send_owed_frames(now);
    }
    auto t3 = Clock::now();
    const auto& vstats = writer.video().stats();
    const auto& wc = writer.counters();
    auto d_convert = vstats.convert_time - prev_convert, d_encode = vstats.encode_time - prev_encode;
    auto d_lossless = wc.lossless_time - prev_lossless;
    prev_convert = vstats.convert_time, prev_encode = vstats.encode_time, prev_lossless = wc.lossless_time;
    const auto& tt = tracker.last_stage_times();
    st["capture"].push_back(ms(t1 - t0));
    st["diff"].push_back(ms(tt.diff));
    st["scroll"].push_back(ms(tt.scroll));
    st["classify"].push_back(ms((t2 - t1) - tt.diff - tt.scroll));
    if (vstats.encoded > prev_encoded) {
      st["convert"].push_back(ms(d_convert));
      st["encode"].push_back(ms(d_encode));
    }
    prev_encoded = vstats.encoded;
    st["lossless"].push_back(ms(d_lossless));
    st["marshal"].push_back(std::max(0.0, ms((t3 - t2) - d_convert - d_encode - d_lossless)));
    st["total"].push_back(ms(t3 - t0));

    // The client's side: apply everything, then compare what it shows with the source.
    ClassBytes fb;
    for (const Sent& m : outbox) {
      const uint64_t n = m.body.size() + 6;  // the mini header every message carries
      switch (m.type) {
        case SPICE_MSG_DISPLAY_DRAW_COPY: fb.stat += n; break;
        case SPICE_MSG_DISPLAY_COPY_BITS: fb.moves += n; ++moves_total; break;
        case SPICE_MSG_DISPLAY_STREAM_DATA:
        case SPICE_MSG_DISPLAY_STREAM_DATA_SIZED: fb.motion += n; break;
        default: fb.control += n;
      }
      digest.add(m.type, m.body);
      view.apply(m.type, m.body);
    }
    bytes.stat += fb.stat, bytes.motion += fb.motion, bytes.moves += fb.moves, bytes.control += fb.control;
    // Pixels of ended streams still waiting for their paced repaint are lossy on purpose.
    const Region video = view.streams_area();
    Region lossy = video;
    lossy.add(writer.repaint_owed());
    auto cmp = comparer.compare(*cap.frame, view.surface(), lossy);
    q_stat.add_frame(cmp.stat);
    q_motion.add_frame(cmp.motion);
    q_all.add_frame(cmp.all);
    if (classes_out) classes_out->video.push_back(lossy);
    if (truth) {
      Region played = truth->video_changed(uint64_t(i));
      Region shown = played;
      shown.intersect(video);
      sent.push_back({fb.total(), fb.motion, !played.empty() && shown.area() * 2 >= played.area(), !played.empty(),
                      wc.repaint_parts > prev_repaint_parts});
      if (prev_frame) move_share.add(*truth, uint64_t(i), change.moves, *prev_frame, *cap.frame);
      prev_frame = cap.frame;
    }
    prev_repaint_parts = wc.repaint_parts;
    int64_t video_px = 0, motion_px = 0, damage_px = 0;
    for (const Rect& r : video.rects()) video_px += r.area();
    for (const Rect& r : change.motion_area.rects()) motion_px += r.area();
    for (const Rect& r : change.damage.rects()) damage_px += r.area();
    timeline.push_back({{"frame", i},
                        {"static_px", int64_t(size.width) * size.height - video_px},
                        {"motion_px", video_px},
                        {"classified_motion_px", motion_px},
                        {"damage_px", damage_px},
                        {"moves", change.moves.size()},
                        {"bytes_static", fb.stat},
                        {"bytes_motion", fb.motion},
                        {"bytes_moves", fb.moves},
                        {"bytes_control", fb.control},
                        {"psnr_motion_db", cmp.motion.pixels ? db_or_null(cmp.motion.psnr()) : json(nullptr)},
                        {"streams", view.live_streams()}});
    ctx.progress.frame_done();
  }

  json run = run_header(workload, kind, cfg.slug(), cfg.label(), plan, size);
  json c = cfg.to_json();
  c["encoder"] = encoder_label;
  run["config"] = c;
  const auto& vstats = writer.video().stats();
  add_results(run, st, bytes, double(plan.frames) / plan.fps, q_stat, q_motion, q_all,
              {encoder_label, vstats.encoded, vstats.keyframes, vstats.streams, vstats.encode_time, vstats.encode_cpu},
              moves_total, digest, std::move(timeline));
  if (truth) {
    run["motion_starts"] = motion_start_figures(sent, plan.fps);
    run["moved"] = move_share.to_json();
  }
  const auto& qs = run["quality"]["static"];
  ctx.progress.end_run(fmt::format("{:.0f} kb/s, static {}, motion PSNR {}", run["kbps"]["total"].get<double>(),
                                   qs["exact"].get<bool>() ? "exact" : "NOT exact",
                                   run["quality"]["motion"]["psnr_db"].dump()));
  return run;
}

// What a game-streaming server sends: every frame whole through x264 at the same bitrate.
json run_baseline_x264(RunContext& ctx, const std::string& workload, int kbps, int threads,
                       const FrameClasses& classes) {
  const BenchPlan& plan = ctx.plan;
  auto source = make_workload(workload, plan.size, plan.fps);
  const Size size = source->size();
  const Rect area{0, 0, size.width & ~1, size.height & ~1};
  VideoEncoderConfig ec;
  ec.codec = VideoCodec::h264;
  ec.width = area.width;
  ec.height = area.height;
  ec.fps = std::max(1, int(std::lround(plan.fps)));
  ec.bitrate_kbps = kbps;
  ec.preset = "ultrafast";
  ec.threads = threads;
  EncoderCandidate cand{EncoderBackend::ffmpeg, VideoCodec::h264, "libx264", EncoderKind::software};
  auto enc = open_encoder(cand, ec);
  FfmpegDecoder dec(VideoCodec::h264);
  YuvImage pic(enc->input_layout(), area.width, area.height, enc->full_range_input());
  FrameComparer comparer;
  ClassQuality q_stat, q_motion, q_all;
  Digest digest;
  std::map<std::string, std::vector<double>> st;
  ClassBytes bytes;
  json timeline = json::array();
  std::chrono::nanoseconds enc_time{}, enc_cpu{};
  uint64_t encoded = 0, keyframes = 0;
  Frame shown(size.width, size.height);
  RunConfig shape;
  shape.codec = "h264";
  shape.preset = "ultrafast";
  shape.bitrate_kbps = kbps;
  shape.threads = threads;
  std::string slug = fmt::format("x264-ultrafast-{}k", kbps);
  std::string label = fmt::format("full-frame x264 ultrafast {} kb/s", kbps);
  const auto* truth = dynamic_cast<const WorkloadTruth*>(source.get());
  std::vector<SentFrame> sent;
  ctx.progress.begin_run(workload + " " + label, uint64_t(plan.frames));
  for (int i = 0; i < plan.frames; ++i) {
    auto t0 = Clock::now();
    CapturedFrame cap = source->capture(uint64_t(i));
    auto t1 = Clock::now();
    bgrx_to_yuv(*cap.frame, area, pic);
    auto t2 = Clock::now();
    auto cpu0 = process_cpu_time();
    auto out = enc->encode(pic, false);
    enc_cpu += process_cpu_time() - cpu0;
    auto t3 = Clock::now();
    enc_time += t3 - t2;
    ++encoded;
    st["capture"].push_back(ms(t1 - t0));
    st["convert"].push_back(ms(t2 - t1));
    st["encode"].push_back(ms(t3 - t2));
    st["total"].push_back(ms(t3 - t0));
    uint64_t fbytes = 0;
    for (const EncodedFrame& f : out) {
      fbytes += f.data.size();
      keyframes += f.keyframe;
      digest.add(1, f.data);
      if (auto d = dec.decode(f.data)) {
        for (int32_t y = 0; y < size.height; ++y)
          for (int32_t x = 0; x < size.width; ++x)
            shown.set_pixel(x, y, d->pixel(std::min(x, d->width() - 1), std::min(y, d->height() - 1)));
      }
    }
    // All of it is video; its cost splits by the region class Tessera gave each pixel.
    bytes.motion += fbytes;
    sent.push_back({fbytes, fbytes, true, truth && !truth->video_changed(uint64_t(i)).empty()});
    Region video = i < int(classes.video.size()) ? classes.video[size_t(i)] : Region{};
    auto cmp = comparer.compare(*cap.frame, shown, video);
    q_stat.add_frame(cmp.stat);
    q_motion.add_frame(cmp.motion);
    q_all.add_frame(cmp.all);
    timeline.push_back({{"frame", i},
                        {"static_px", cmp.stat.pixels},
                        {"motion_px", cmp.motion.pixels},
                        {"bytes_static", 0},
                        {"bytes_motion", fbytes},
                        {"bytes_moves", 0},
                        {"psnr_motion_db", cmp.motion.pixels ? db_or_null(cmp.motion.psnr()) : json(nullptr)},
                        {"psnr_static_db", cmp.stat.pixels ? db_or_null(cmp.stat.psnr()) : json(nullptr)},
                        {"streams", 1}});
    ctx.progress.frame_done();
  }
  json run = run_header(workload, "baseline_x264", slug, label, plan, size);
  json c = shape.to_json();
  c["encoder"] = "ffmpeg:libx264";
  run["config"] = c;
  add_results(run, st, bytes, double(plan.frames) / plan.fps, q_stat, q_motion, q_all,
              {"ffmpeg:libx264", encoded, keyframes, 1, enc_time, enc_cpu}, 0, digest, std::move(timeline));
  if (truth) run["motion_starts"] = motion_start_figures(sent, plan.fps);
  ctx.progress.end_run(fmt::format("{:.0f} kb/s, static PSNR {}, motion PSNR {}", run["kbps"]["total"].get<double>(),
                                   run["quality"]["static"]["psnr_db"].dump(),
                                   run["quality"]["motion"]["psnr_db"].dump()));
  return run;
}

json comparison(const json& run, const json& base) {
  auto ratio = [](double a, double b) { return b > 0 ? r3(a / b * 1000.0) / 1000.0 : 0.0; };
  double a = run["bytes"]["total"].get<double>(), b = base["bytes"]["total"].get<double>();
  return {{"workload", run["workload"]},
          {"run", run["id"]},
          {"baseline", base["id"]},
          {"baseline_kind", base["kind"]},
          {"bytes_ratio", std::round(ratio(a, b) * 1e4) / 1e4},
          {"static_psnr_db", run["quality"]["static"]["psnr_db"]},
          {"baseline_static_psnr_db", base["quality"]["static"]["psnr_db"]},
          {"motion_psnr_db", run["quality"]["motion"]["psnr_db"]},
          {"baseline_motion_psnr_db", base["quality"]["motion"]["psnr_db"]},
          {"static_ssim", run["quality"]["static"]["ssim"]},
          {"baseline_static_ssim", base["quality"]["static"]["ssim"]},
          {"motion_ssim", run["quality"]["motion"]["ssim"]},
          {"baseline_motion_ssim", base["quality"]["motion"]["ssim"]},
          {"encoder_cpu_ratio", ratio(run["encoder"]["cpu_s"].get<double>(), base["encoder"]["cpu_s"].get<double>())}};
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      if (p != std::string::npos) return line.substr(p + 2);
    }
  return "unknown";
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

// One throwaway x264 encode at the plan's size before any run is timed: the process's first
// encoder pays one-time costs (library set-up, first touch of its frame buffers) that a server
// pays once in its life, not at every video start. Without it the first timed run of a plan
// carries them and the others do not.
void warm_up_encoder(const BenchPlan& plan) {
  VideoEncoderConfig ec;
  ec.codec = VideoCodec::h264;
  ec.width = plan.size.width & ~1;
  ec.height = plan.size.height & ~1;
  ec.fps = std::max(1, int(std::lround(plan.fps)));
  ec.bitrate_kbps = 8000;
  ec.preset = "ultrafast";
  ec.threads = 1;
  try {
    auto enc = open_encoder({EncoderBackend::ffmpeg, VideoCodec::h264, "libx264", EncoderKind::software}, ec);
    Frame f(ec.width, ec.height);
    YuvImage pic(enc->input_layout(), ec.width, ec.height, enc->full_range_input());
    for (int i = 0; i < 4; ++i) {
      f.fill({0, 0, ec.width, ec.height}, bgrx(uint8_t(40 * i), 90, 160));
      f.fill({i * 16, i * 8, ec.width / 2, ec.height / 2}, bgrx(220, uint8_t(30 * i), 20));
      bgrx_to_yuv(f, f.bounds(), pic);
      enc->encode(pic, i == 0);
    }
  } catch (const std::exception&) {
    // No x264 here: the runs that need it say so themselves.
  }
}

json run_plan(const BenchPlan& plan, const RunnerOptions& opts) {
  if (plan.frames < 1) throw std::invalid_argument("frames must be at least 1");
  if (!(plan.fps > 0 && plan.fps <= 240)) throw std::invalid_argument("fps must be 0..240");
  if (plan.workloads.empty()) throw std::invalid_argument("no workloads");
  const std::vector<RunConfig> configs = plan.configs();
  std::set<int> bitrates;
  for (const auto& c : configs)
    if (c.codec != "off") bitrates.insert(c.bitrate_kbps);
  bool lossless_in_sweep = false;
  for (const auto& c : configs) lossless_in_sweep |= c.codec == "off";
  size_t runs_per_workload =
      configs.size() + (plan.baselines ? bitrates.size() + (lossless_in_sweep ? 0 : 1) : 0);
  Progress progress(uint64_t(plan.frames) * runs_per_workload * plan.workloads.size(), opts.progress);
  Catalogs catalogs;
  RunContext ctx{plan, progress, catalogs};
  warm_up_encoder(plan);

  json report;
  report["tessera_bench"] = 1;
  report["generated"] = utc_now();
  report["tessera_version"] = opts.version;
  report["host"] = {{"cpu", cpu_model()}, {"cores", std::thread::hardware_concurrency()}};
  report["settings"] = {{"frames", plan.frames},
                        {"fps", plan.fps},
                        {"size", fmt::format("{}x{}", plan.size.width, plan.size.height)},
                        {"workloads", plan.workloads},
                        {"baselines", plan.baselines},
                        {"command", opts.command}};
  json runs = json::array(), comps = json::array();
  for (const std::string& w : plan.workloads) {
    std::vector<json> tess;
    std::map<int, FrameClasses> classes;  // by bitrate: the first run's classes
    json lossless;
    for (const RunConfig& c : configs) {
      FrameClasses fc;
      bool keep = c.codec != "off" && !classes.count(c.bitrate_kbps);
      json r = run_tessera(ctx, w, c, c.codec == "off" ? "baseline_lossless" : "tessera", keep ? &fc : nullptr);
      if (keep) classes[c.bitrate_kbps] = std::move(fc);
      if (c.codec == "off") {
        if (lossless.is_null()) lossless = r;
      } else {
        tess.push_back(r);
      }
      runs.push_back(std::move(r));
    }
    if (!plan.baselines) continue;
    if (lossless.is_null()) {
      RunConfig off;
      off.codec = "off";
      off.bitrate_kbps = 0;
      off.tile_size = configs.front().tile_size;
      lossless = run_tessera(ctx, w, off, "baseline_lossless", nullptr);
      runs.push_back(lossless);
    }
    std::map<int, json> x264;
    for (int kbps : bitrates) {
      x264[kbps] = run_baseline_x264(ctx, w, kbps, configs.front().threads, classes[kbps]);
      runs.push_back(x264[kbps]);
    }
    for (const json& r : tess) {
      comps.push_back(comparison(r, x264[r["config"]["bitrate_kbps"].get<int>()]));
      comps.push_back(comparison(r, lossless));
    }
  }
  progress.finish();
  report["runs"] = runs;
  report["comparisons"] = comps;
  return report;
}

std::string report_csv(const json& report) {
  std::string out =
      "id,workload,kind,label,codec,preset,bitrate_kbps,tile_size,frames,fps,width,height,kbps_total,kbps_static,"
      "kbps_motion,kbps_moves,kbps_control,static_psnr_db,static_exact,static_ssim,motion_psnr_db,motion_min_psnr_db,"
      "motion_ssim,all_psnr_db,all_ssim,total_p50_ms,total_p95_ms,total_p99_ms,encode_p50_ms,encode_p99_ms,"
      "encoder_fps,encoder_cpu_s,digest\n";
  auto q = [](const std::string& s) {
    std::string e = "\"";
    for (char c : s) e += c == '"' ? std::string("\"\"") : std::string(1, c);
    return e + "\"";
  };
  auto num = [](const json& j) { return j.is_null() ? std::string("") : j.dump(); };
  auto stage = [&](const json& r, const char* s, const char* p) {
    return r["stages"].contains(s) && !r["stages"][s].is_null() ? num(r["stages"][s][p]) : std::string("");
  };
  for (const json& r : report["runs"]) {
    const json& c = r["config"];
    const json& qq = r["quality"];
    out += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                       q(r["id"]), q(r["workload"]), r["kind"].get<std::string>(), q(r["label"]),
                       c["codec"].get<std::string>(), q(c["preset"]), num(c["bitrate_kbps"]), num(c["tile_size"]),
                       num(r["frames"]), num(r["fps"]), num(r["width"]), num(r["height"]), num(r["kbps"]["total"]),
                       num(r["kbps"]["static"]), num(r["kbps"]["motion"]), num(r["kbps"]["moves"]),
                       num(r["kbps"]["control"]), num(qq["static"]["psnr_db"]), qq["static"]["exact"].dump(),
                       num(qq["static"]["ssim"]), num(qq["motion"]["psnr_db"]), num(qq["motion"]["min_psnr_db"]),
                       num(qq["motion"]["ssim"]), num(qq["all"]["psnr_db"]), num(qq["all"]["ssim"]),
                       stage(r, "total", "p50_ms"), stage(r, "total", "p95_ms"), stage(r, "total", "p99_ms"),
                       stage(r, "encode", "p50_ms"), stage(r, "encode", "p99_ms"), num(r["encoder"]["fps"]),
                       num(r["encoder"]["cpu_s"]), r["digest"].get<std::string>());
  }
  return out;
}

std::string report_summary(const json& report) {
  auto db = [](const json& j, bool exact) {
    if (exact) return std::string("exact");
    return j.is_null() ? std::string("-") : fmt::format("{:.1f}", j.get<double>());
  };
  auto ssim = [](const json& j) { return j.is_null() ? std::string("-") : fmt::format("{:.4f}", j.get<double>()); };
  std::string out = fmt::format("{:<10} {:<18} {:<38} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8}\n", "workload",
                                "kind", "configuration", "kb/s", "static", "motion", "mot.SSIM", "p50 ms", "p99 ms",
                                "enc fps", "enc CPU");
  for (const json& r : report["runs"]) {
    const json& qq = r["quality"];
    const json& tot = r["stages"]["total"];
    std::string label = r["label"].get<std::string>();
    if (label.size() > 38) label = label.substr(0, 35) + "...";
    std::string w = r["workload"].get<std::string>();
    if (w.size() > 10) w = w.substr(0, 7) + "...";
    out += fmt::format("{:<10} {:<18} {:<38} {:>9.0f} {:>9} {:>9} {:>8} {:>8.2f} {:>8.2f} {:>8.0f} {:>7.2f}s\n", w,
                       r["kind"].get<std::string>(), label, r["kbps"]["total"].get<double>(),
                       db(qq["static"]["psnr_db"], qq["static"]["exact"].get<bool>() && qq["static"]["pixels"] > 0),
                       db(qq["motion"]["psnr_db"], false), ssim(qq["motion"]["ssim"]),
                       tot["p50_ms"].get<double>(), tot["p99_ms"].get<double>(), r["encoder"]["fps"].get<double>(),
                       r["encoder"]["cpu_s"].get<double>());
  }
  std::string starts;
  for (const json& r : report["runs"]) {
    if (r.contains("motion_starts") && r["motion_starts"].is_object()) {
      const json& m = r["motion_starts"];
      for (const json& st : m["starts"]) {
        std::string at = st["video_at_change"].is_null()
                             ? std::string("never as video")
                             : fmt::format("video at changed frame {} ({} ms)", st["video_at_change"].get<int>(),
                                           st["ms_to_video"].dump());
        const json& median = m["stream_frame_median_bytes"];
        std::string vs = median.is_null() || median.get<double>() <= 0
                             ? std::string()
                             : fmt::format(" = {:.1f}x the median video frame ({:.1f} KB)",
                                           st["largest_update_bytes"].get<double>() / median.get<double>(),
                                           median.get<double>() / 1000.0);
        starts += fmt::format("  {:<48} start at frame {:>3}: {}; largest update in 0.5 s {:.1f} KB{}\n",
                              r["id"].get<std::string>(), st["frame"].get<int>(), at,
                              st["largest_update_bytes"].get<double>() / 1000.0, vs);
      }
      for (const json& st : m["stops"]) {
        const json& ratio = st["largest_vs_stream_frame"];
        std::string vs = ratio.is_null() ? std::string() : fmt::format(" = {:.1f}x the median video frame", ratio.get<double>());
        const int parts = st["repaint_updates"].get<int>();
        std::string repaint = parts == 0 ? std::string("repaint not paced")
                                         : fmt::format("paced repaint in {} update{} over {} ms", parts,
                                                       parts == 1 ? "" : "s", st["repaint_ms"].dump());
        starts += fmt::format("  {:<48} stop at frame {:>3}:  {}; largest update {:.1f} KB{}\n",
                              r["id"].get<std::string>(), st["frame"].get<int>(), repaint,
                              st["largest_update_bytes"].get<double>() / 1000.0, vs);
      }
    }
    if (r.contains("moved") && r["moved"].is_object())
      starts += fmt::format("  {:<48} moved window: {:.1f}% of its moved pixels sent as moves ({} frames)\n",
                            r["id"].get<std::string>(), r["moved"]["share"].get<double>() * 100.0,
                            r["moved"]["frames"].get<int>());
  }
  if (!starts.empty()) out += "\nMotion starts and moved windows:\n" + starts;
  if (!report["comparisons"].empty()) {
    out += "\nTessera against the baselines (bytes ratio < 1: Tessera sends less):\n";
    for (const json& c : report["comparisons"]) {
      std::string base = c["baseline_kind"] == "baseline_x264" ? "full-frame x264" : "lossless only";
      out += fmt::format("  {:<48} vs {:<16} bytes x{:<7.3f} static PSNR {} vs {}\n", c["run"].get<std::string>(), base,
                         c["bytes_ratio"].get<double>(), db(c["static_psnr_db"], c["static_psnr_db"].is_null()),
                         db(c["baseline_static_psnr_db"], c["baseline_static_psnr_db"].is_null()));
    }
  }
  return out;
}

}  // namespace tessera::bench
